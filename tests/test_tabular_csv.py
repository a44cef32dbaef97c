from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sharenas.data import load_dataset
from sharenas.errors import ConfigError, DatasetError
from sharenas.tasks import TaskKind


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    frame = pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.normal(40, 10, n),
            "income": rng.normal(50, 5, n),
            "city": rng.choice(["paris", "oslo", "rome"], n),
            "churn": rng.choice(["yes", "no"], n),
            "plan": rng.choice(["a", "b", "c", "d"], n),
            "spend": rng.normal(0, 1, n),
        }
    )
    frame.loc[3, "age"] = np.nan
    path = tmp_path / "customers.csv"
    frame.to_csv(path, index=False)
    return path


def load(path: Path, **params):
    return load_dataset("tabular-csv", path=path, **params)


def test_loads_declared_targets_and_encodes_features(csv_file: Path) -> None:
    targets = {"churn": "binary", "plan": "classification", "spend": "regression"}
    data = load(csv_file, targets=targets, drop=["id"])
    kinds = {t.name: (t.kind, t.num_classes) for t in data.tasks}
    assert kinds == {
        "churn": (TaskKind.BINARY, None),
        "plan": (TaskKind.CLASSIFICATION, 4),
        "spend": (TaskKind.REGRESSION, None),
    }
    assert data.sizes() == {"train": 160, "val": 20, "test": 20}
    spec = data.input_spec
    assert spec.numeric_names == ("age", "income") and spec.categorical_names == ("city",)
    assert spec.categorical_cardinalities == (4,)  # 3 cities + code 0 for unseen
    x, y = data.train.batch(slice(None))
    assert not x["numeric"].isnan().any()  # the missing age took the training median
    assert abs(float(x["numeric"].mean(0)[1])) < 1e-5  # standardised on train
    assert set(y["churn"].unique().tolist()) == {0.0, 1.0}
    assert y["plan"].dtype.is_floating_point is False
    assert data.notes["churn"] == "'no'→0, 'yes'→1"


def test_split_is_deterministic_and_disjoint(csv_file: Path) -> None:
    first = load(csv_file, targets={"churn": "binary"}, drop=["id"], split_seed=4)
    second = load(csv_file, targets={"churn": "binary"}, drop=["id"], split_seed=4)
    for split in ("train", "val", "test"):
        assert first.splits[split].inputs["numeric"].equal(second.splits[split].inputs["numeric"])


def test_split_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "x": range(6),
            "y": [0, 1, 0, 1, 0, 1],
            "part": ["train", "train", "train", "val", "test", "Test"],
        }
    )
    path = tmp_path / "s.csv"
    frame.to_csv(path, index=False)
    data = load(path, targets={"y": "binary"}, split_column="part")
    assert data.sizes() == {"train": 3, "val": 1, "test": 2}


def test_missing_target_column_suggests_closest(csv_file: Path) -> None:
    with pytest.raises(DatasetError) as info:
        load(csv_file, targets={"chrn": "binary"})
    message = str(info.value)
    assert str(csv_file) in message and "'chrn'" in message and "Did you mean 'churn'" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load(tmp_path / "nope.csv", targets={"y": "binary"})


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ({"plan": "binary"}, "has 4 distinct values"),
        ({"city": "regression"}, "non-numeric values such as"),
        ({"spend": "classification"}, "non-integer numbers; declare it regression"),
    ],
)
def test_target_of_wrong_kind(csv_file: Path, targets: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message) as info:
        load(csv_file, targets=targets, drop=["id"])
    assert f"data.targets.{next(iter(targets))}" in str(info.value)


def test_an_all_empty_target_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": [1, 2, 3, 4], "y": [None] * 4}).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="has no value at all"):
        load(path, targets={"y": "regression"})


def test_unknown_kind_is_a_config_error(csv_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.targets\.churn: given 'boolean'"):
        load(csv_file, targets={"churn": "boolean"})


def test_empty_split_and_bad_split_values(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    pd.DataFrame({"x": [1, 2], "y": [0, 1], "part": ["train", "holdout"]}).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="holds \\['holdout'\\]"):
        load(path, targets={"y": "binary"}, split_column="part")
    pd.DataFrame({"x": [1, 2], "y": [0, 1], "part": ["train", "test"]}).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="the val split is empty"):
        load(path, targets={"y": "binary"}, split_column="part")


def test_a_table_with_seven_targets_of_three_kinds_trains_and_branches(
    csv_file: Path, tmp_path: Path
) -> None:
    """An Adult-like table a user brings: every column but one feature a target, of every kind,
    regression targets standardised; a branching search runs on it."""
    from sharenas.config import build_config
    from sharenas.runs.oneshot import run_oneshot_search

    targets = {
        "churn": "binary",
        "plan": "classification",
        "city": "classification",
        "spend": "regression",
        "income": "regression",
        "age": "regression",
        "high_spend": "binary",
    }
    frame = pd.read_csv(csv_file)
    frame["high_spend"] = np.where(frame["spend"] > 0, "y", "n")
    frame["age"] = frame["age"].fillna(40.0)  # a target needs every value
    frame.to_csv(csv_file, index=False)
    data = load(csv_file, targets=targets)
    assert len(data.tasks) == 7 and data.input_spec.numeric_names == ("id",)
    assert {t.kind for t in data.tasks} == {
        TaskKind.BINARY, TaskKind.CLASSIFICATION, TaskKind.REGRESSION
    }  # fmt: skip
    assert all(t.target_std for t in data.tasks if t.kind is TaskKind.REGRESSION)
    config = build_config(
        {
            "data": {"name": "tabular-csv", "path": str(csv_file), "targets": targets},
            "model": {"backbone": {"name": "mlp", "widths": [8, 8]}},
            "train": {"epochs": 2, "batch_size": 32, "threads": 1},
            "search": {"space": "branching", "affinity": {"every": 1}, "derive": "none",
                       "baselines": []},
        }
    )  # fmt: skip
    record, _ = run_oneshot_search(config, tmp_path / "s", progress=False)
    assert set(record["primary"]) == set(targets) and record["affinity_measurements"] > 0
