"""The partition matrix P (Feature Partitioning): feasibility, rescaling, masks solved from P."""

import pytest
import torch

from sharenas.errors import ConfigError
from sharenas.spaces.partition import (
    PartitionGenotype,
    feasible_matrix,
    feasible_range,
    independent,
    realised_matrix,
    share_all,
    solve_masks,
    validate_matrix,
)


def test_feasible_range_by_hand() -> None:
    assert feasible_range(0.7, 0.6) == pytest.approx((0.3, 0.6))
    assert feasible_range(0.3, 0.4) == pytest.approx((0.0, 0.3))


def test_raw_values_are_rescaled_into_the_feasible_range() -> None:
    p = feasible_matrix([0.7, 0.6], [0.5])
    assert float(p[0, 1]) == pytest.approx(0.45) and float(p[1, 0]) == pytest.approx(0.45)
    assert float(feasible_matrix([0.7, 0.6], [0.0])[0, 1]) == pytest.approx(0.3)
    assert float(feasible_matrix([0.7, 0.6], [1.0])[0, 1]) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("p", "message"),
    [
        ([[0.5, 0.6], [0.6, 0.5]], r"P\[0\]\[1\] = 0.6 is outside its feasible range \[0, 0.5\]"),
        ([[0.0, 0.0], [0.0, 0.5]], r"P\[0\]\[0\] = 0: a task's share"),
        ([[0.5, 0.1], [0.2, 0.5]], "must be symmetric"),
        ([[1.0]], "N ≥ 2 tasks"),
    ],
)
def test_infeasible_matrices_are_clear_errors(p, message) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_matrix(torch.tensor(p, dtype=torch.float64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_realise_the_matrix(seed: int) -> None:
    channels = 64
    p = feasible_matrix([0.5, 0.75, 0.25], [0.5, 0.3, 0.8])
    masks = solve_masks(p, channels, seed)
    assert masks.shape == (3, channels)
    realised = realised_matrix(masks)
    assert torch.allclose(realised.diagonal(), p.diagonal(), atol=1 / channels)
    assert torch.allclose(realised, p, atol=2 / channels)  # pairwise-consistent targets
    assert torch.equal(masks, solve_masks(p, channels, seed))  # deterministic for a seed


def test_extremes_are_matrices() -> None:
    assert solve_masks(share_all(3), 16).all()
    masks = solve_masks(independent(4), 16)
    assert masks.sum(1).tolist() == [4, 4, 4, 4] and masks.sum(0).max() == 1  # disjoint


def test_genotype_round_trips_and_validates() -> None:
    genotype = PartitionGenotype.of(("a", "b"), [feasible_matrix([0.5, 0.5], [0.5])])
    assert PartitionGenotype.from_dict(genotype.to_dict()) == genotype
    assert torch.equal(genotype.matrix(3), genotype.matrix(0))  # one matrix shared by stages
    with pytest.raises(ConfigError, match="but there are 3 tasks"):
        PartitionGenotype.of(("a", "b", "c"), [share_all(2)])
    with pytest.raises(ConfigError, match="belongs to another space"):
        PartitionGenotype.from_dict({"space": "partition", "edges": []})
