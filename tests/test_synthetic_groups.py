"""synthetic-groups: T tasks in G groups whose correlations are planted (p_in inside a group,
p_out across), regression or binary, deterministic in the seed, and refused when the planted
structure is not a correlation matrix."""

from __future__ import annotations

import numpy as np
import pytest

from sharenas.config import build_config
from sharenas.data import create_dataset
from sharenas.data.synthetic_groups import (
    SyntheticGroupsConfig,
    correlation_matrix,
    generate_groups,
    lowest_p_out,
    task_weights,
)
from sharenas.errors import ConfigError


@pytest.mark.parametrize(("p_in", "p_out"), [(0.9, 0.5), (0.9, 0.0), (0.8, -0.5)])
def test_the_task_vectors_carry_the_planted_correlations(p_in: float, p_out: float) -> None:
    config = SyntheticGroupsConfig(groups=[5, 3], p_in=p_in, p_out=p_out, dim=20, scale=2.0)
    weights = task_weights(config, np.random.default_rng(0))
    assert weights.shape == (8, 20)
    np.testing.assert_allclose(
        weights @ weights.T, 4.0 * correlation_matrix([5, 3], p_in, p_out), atol=1e-9
    )


def test_the_targets_follow_the_groups() -> None:
    config = SyntheticGroupsConfig(groups=[3, 2], p_in=0.9, p_out=-0.5, dim=10, sin_terms=0)
    _, y = generate_groups(config, 4000)
    observed = np.corrcoef(y.T)
    assert observed[0, 1] > 0.85 and observed[3, 4] > 0.85  # inside groups
    assert observed[0, 3] < -0.4  # across groups: anti-correlated
    x1, y1 = generate_groups(config, 50)
    x2, y2 = generate_groups(config, 50)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_binary_tasks_are_balanced_labels() -> None:
    config = SyntheticGroupsConfig(kind="binary", groups=[2, 2], dim=8)
    _, y = generate_groups(config, 1000)
    assert set(np.unique(y)) == {0.0, 1.0}
    np.testing.assert_allclose(y.mean(0), 0.5, atol=0.01)


def test_the_dataset_names_its_tasks_by_group() -> None:
    config = build_config(
        {
            "data": {
                "name": "synthetic-groups",
                "groups": [2, 1],
                "dim": 6,
                "kind": "binary",
                "train_size": 20,
                "val_size": 10,
                "test_size": 10,
            }
        }
    )
    data = create_dataset(config.data).load()
    assert [t.name for t in data.tasks] == ["g0t0", "g0t1", "g1t0"]
    assert {t.kind.value for t in data.tasks} == {"binary"}
    assert data.sizes() == {"train": 20, "val": 10, "test": 10}


def test_an_impossible_structure_names_the_lowest_p_out() -> None:
    bound = lowest_p_out([4, 2, 2], 0.9)
    assert -0.48 < bound < -0.46
    assert np.linalg.eigvalsh(correlation_matrix([4, 2, 2], 0.9, bound)).min() > -1e-8
    with pytest.raises(ConfigError, match=r"p_out ≥ -0\.47"):
        build_config({"data": {"name": "synthetic-groups", "groups": [4, 2, 2], "p_out": -0.5}})
    with pytest.raises(ConfigError, match="dim"):
        build_config({"data": {"name": "synthetic-groups", "groups": [6, 6], "dim": 8}})
    with pytest.raises(ConfigError, match="at least one task"):
        build_config({"data": {"name": "synthetic-groups", "groups": [3, 0]}})
