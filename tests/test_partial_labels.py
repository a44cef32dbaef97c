"""Partial labels: a task's missing targets are left out of its loss, metrics and statistics."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sharenas.data import load_dataset
from sharenas.data.base import MultiTaskDataset
from sharenas.engine.bootstrap import _primary
from sharenas.engine.evaluate import evaluate
from sharenas.engine.losses import task_losses
from sharenas.errors import DatasetError
from sharenas.tasks import TaskKind, TaskSpec, create_task_handler
from sharenas.tasks.labels import MISSING_CLASS, labelled_rows

TASKS = [
    TaskSpec(name="label", kind=TaskKind.CLASSIFICATION, num_classes=3),
    TaskSpec(name="flag", kind=TaskKind.BINARY),
    TaskSpec(name="value", kind=TaskKind.REGRESSION, dims=2),
]


class Linear(nn.Module):
    """One linear head per task over 4 features (fixed weights)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.heads = nn.ModuleDict({"label": nn.Linear(4, 3), "flag": nn.Linear(4, 1)})
        self.heads["value"] = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(x) for name, head in self.heads.items()}


def rows(n: int = 40, seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    targets = {
        "label": torch.randint(0, 3, (n,), generator=generator),
        "flag": torch.randint(0, 2, (n,), generator=generator).float(),
        "value": torch.randn(n, 2, generator=generator),
    }
    return x, targets


def masks(n: int = 40) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {t.name: torch.rand(n, generator=generator) < 0.6 for t in TASKS}


def test_marked_rows_are_missing_in_the_targets() -> None:
    x, targets = rows()
    labelled = masks()
    data = MultiTaskDataset(x, targets, TASKS, labelled=labelled)
    assert (data.targets["label"][~labelled["label"]] == MISSING_CLASS).all()
    assert data.targets["flag"][~labelled["flag"]].isnan().all()
    assert data.targets["value"][~labelled["value"]].isnan().all()
    for spec in TASKS:
        assert labelled_rows(spec, data.targets[spec.name]).equal(labelled[spec.name])
    assert data.coverage()["flag"] == (int(labelled["flag"].sum()), 40)


def test_a_masked_loss_equals_the_loss_of_the_labelled_rows_alone(tmp_path: Path) -> None:
    x, targets = rows()
    labelled = masks()
    data = MultiTaskDataset(x, targets, TASKS, labelled=labelled)
    handlers = [create_task_handler(t) for t in TASKS]
    model = Linear()
    _, y = data.batch(slice(None))
    losses, values = task_losses(handlers, model(x), y, "test", tmp_path / "none.pt")
    for h in handlers:
        keep = labelled[h.name]
        alone = h.loss(model(x[keep])[h.name], targets[h.name][keep])
        assert torch.allclose(losses[h.name], alone)
        assert math.isfinite(values[h.name])


def test_a_batch_without_a_task_label_contributes_nothing_to_it(tmp_path: Path) -> None:
    x, targets = rows(8)
    none = torch.zeros(8, dtype=torch.bool)
    data = MultiTaskDataset(x, targets, TASKS, labelled={"flag": none})
    handlers = [create_task_handler(t) for t in TASKS]
    model = Linear()
    losses, values = task_losses(
        handlers, model(x), data.batch(slice(None))[1], "test", tmp_path / "none.pt"
    )
    assert set(losses) == {"label", "value"} and set(values) == {"label", "value"}
    sum(losses.values()).backward()  # finite, and no gradient reaches the unlabelled head
    assert model.heads["flag"].weight.grad is None


def test_metrics_are_those_of_the_labelled_rows_alone() -> None:
    x, targets = rows(60)
    labelled = masks(60)
    partial = MultiTaskDataset(x, targets, TASKS, labelled=labelled)
    handlers = [create_task_handler(t) for t in TASKS]
    model = Linear()
    scored = evaluate(model, handlers, partial, 16, torch.device("cpu"))
    for h in handlers:
        keep = labelled[h.name]
        alone = MultiTaskDataset(x[keep], {k: v[keep] for k, v in targets.items()}, TASKS)
        expected = evaluate(model, [h], alone, 16, torch.device("cpu"))[h.name]
        assert scored[h.name] == pytest.approx(expected, rel=1e-6)
        prediction = model(x)[h.name]
        bootstrap = _primary(h, prediction.detach(), partial.targets[h.name])
        assert bootstrap == pytest.approx(expected[h.primary], rel=1e-6)


def write_csv(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "a": a,
            "b": b,
            "up": np.where(a + 0.3 * rng.normal(size=n) > 0, "yes", "no"),
            "size": (b + 0.1 * rng.normal(size=n)).round(3),
            "kind": rng.choice(["x", "y", "z"], n),
        }
    ).astype(object)
    frame.loc[rng.random(n) < 0.4, "up"] = None
    frame.loc[rng.random(n) < 0.3, "size"] = None
    frame.loc[rng.random(n) < 0.2, "kind"] = None
    frame.to_csv(path, index=False)
    return path


TARGETS = {"up": "binary", "size": "regression", "kind": "classification"}


def test_empty_target_cells_are_missing_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv")
    data = load_dataset("tabular-csv", path=path, targets=TARGETS)
    frame = pd.read_csv(path)
    total = sum(data.splits[s].coverage()["up"][0] for s in ("train", "val", "test"))
    assert total == int(frame["up"].notna().sum())
    assert "missing (left out of the task's loss and metrics)" in data.notes["size"]
    assert data.tasks[2].num_classes == 3
    spec = next(t for t in data.tasks if t.name == "size")
    present = frame["size"].dropna()  # standardised with the labelled training rows only
    assert spec.target_mean is not None and math.isfinite(spec.target_mean[0])
    assert abs(spec.target_mean[0] - present.mean()) < 0.3


def test_a_split_without_a_label_of_a_task_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "a": range(20),
            "y": [1.0] * 10 + [None] * 10,
            "part": ["train"] * 10 + ["val"] * 5 + ["test"] * 5,
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"task 'y' has no labelled row in the val split"):
        load_dataset("tabular-csv", path=path, targets={"y": "regression"}, split_column="part")
    frame.assign(y=None).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="has no value at all"):
        load_dataset("tabular-csv", path=path, targets={"y": "regression"}, split_column="part")


def test_drop_labels_removes_a_share_of_the_training_labels(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv")
    full = load_dataset("tabular-csv", path=path, targets=TARGETS)
    dropped = load_dataset("tabular-csv", path=path, targets=TARGETS, drop_labels={"up": 0.5})
    before, rows_ = full.train.coverage()["up"]
    after, _ = dropped.train.coverage()["up"]
    assert after == before - round(0.5 * before) and rows_ == len(dropped.train)
    assert dropped.val.coverage() == full.val.coverage()  # scored on the same rows
    assert dropped.train.coverage()["size"] == full.train.coverage()["size"]
    again = load_dataset("tabular-csv", path=path, targets=TARGETS, drop_labels={"up": 0.5})
    assert again.train.targets["up"].isnan().equal(dropped.train.targets["up"].isnan())
    with pytest.raises(DatasetError, match=r"data.drop_labels names \['nope'\]"):
        load_dataset("tabular-csv", path=path, targets=TARGETS, drop_labels={"nope": 0.5})


def test_datasets_show_reports_label_coverage(tmp_path: Path, cli) -> None:
    path = write_csv(tmp_path / "t.csv")
    config = tmp_path / "c.yaml"
    config.write_text(f"data: {{name: tabular-csv, path: {path}, targets: {TARGETS}}}\n")
    result = cli("datasets", "show", str(config), env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    assert "labelled (" in result.stdout and "rows)" in result.stdout


@pytest.mark.parametrize("space", ["fusion", "routing", "partition", "branching"])
def test_training_and_every_search_run_on_partial_labels(tmp_path: Path, cli, space) -> None:
    path = write_csv(tmp_path / "t.csv", n=240)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {{name: tabular-csv, path: {path}, targets: {TARGETS}}}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
        "train: {epochs: 2, batch_size: 32, early_stopping: 1}\n"
        f"search: {{space: {space}, baselines: [single-task]}}\n"
    )
    result = cli("search", str(config), "--out", str(tmp_path / "out"), "--smoke")
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "out" / "report.md").read_text()
    assert "nan" not in report.lower()


def test_image_rows_with_missing_labels(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    tasks = [
        TaskSpec(name="seg", kind=TaskKind.SEGMENTATION, num_classes=3, ignore_index=255),
        TaskSpec(name="label", kind=TaskKind.CLASSIFICATION, num_classes=4),
    ]
    x = torch.randint(0, 255, (12, 1, 8, 8), generator=generator, dtype=torch.uint8)
    seg = (x[:, 0] > 128).long()
    label = torch.randint(0, 4, (12,), generator=generator)
    keep = torch.arange(12) % 3 != 0
    data = MultiTaskDataset(x, {"seg": seg, "label": label}, tasks, labelled={"seg": keep})
    assert (data.targets["seg"][~keep] == 255).all() and data.coverage()["seg"] == (8, 12)
    handlers = [create_task_handler(t) for t in tasks]
    predictions = {
        "seg": torch.randn(12, 3, 8, 8, generator=generator),
        "label": torch.randn(12, 4, generator=generator),
    }
    _, y = data.batch(slice(None))
    losses, _ = task_losses(handlers, predictions, y, "test", tmp_path / "none.pt")
    alone = handlers[0].loss(predictions["seg"][keep], seg[keep])
    assert torch.allclose(losses["seg"], alone)


@pytest.mark.parametrize("weighting", ["equal", "pcgrad", "dwa"])
def test_a_batch_without_any_label_changes_nothing(tmp_path: Path, weighting: str) -> None:
    """A batch holding no label of any task: no NaN, no step (the weights stay as they are),
    and training over such batches goes on."""
    from sharenas.config import build_config
    from sharenas.engine.step import StepInfo
    from sharenas.engine.trainer import Trainer
    from sharenas.runs.training import build_model, train

    config = build_config(
        {
            "data": {"name": "synthetic-mmoe", "train_size": 64, "val_size": 16, "test_size": 16},
            "model": {"arch": "hard-sharing", "backbone": {"name": "mlp", "widths": [8]}},
            "train": {"epochs": 2, "batch_size": 32, "weighting": weighting},
        }
    )
    data = load_dataset("synthetic-mmoe", train_size=64, val_size=16, test_size=16)
    full = data.train
    assert isinstance(full, MultiTaskDataset)
    unlabelled = torch.arange(64) >= 32  # the last 32 rows: no label of any task
    data.splits["train"] = MultiTaskDataset(
        full.inputs, full.targets, list(full.tasks.values()), dict.fromkeys(full.tasks, ~unlabelled)
    )
    model, handlers = build_model(config, data)
    trainer = Trainer(model, handlers, data, config.train, tmp_path / "t", progress=False)
    before = [p.detach().clone() for p in model.parameters()]
    x, y = trainer.load(data.train, torch.arange(32, 64))
    losses, values = trainer.task_losses(trainer.train_model, x, y, StepInfo(0, 0, 0, 1))
    assert losses == {} and values == {}
    trainer.weighted_update(losses, trainer.optimizers["weights"])
    assert all(a.equal(b) for a, b in zip(before, model.parameters(), strict=True))
    record = train(config, tmp_path / "run", progress=False, data=data)
    assert all(math.isfinite(v) for v in record["primary"].values())


def test_two_processes_train_on_sparse_labels(tmp_path: Path) -> None:
    """Under torchrun (2 CPU processes, gloo), with most labels missing, a process's rows often
    hold no label of a task, or of any task: both processes take every step together (no hang,
    no DDP error) and the run ends with finite metrics. A weighting that combines per-task
    gradients is refused there with a clear error (both commands in one torchrun launch)."""
    import json
    import os
    import re
    import subprocess
    import sys

    path = os.environ.get("PYTHONPATH", "")
    rng = np.random.default_rng(0)
    n = 200
    a = rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "up": (a > 0).astype(float), "size": a + rng.normal(size=n)})
    frame.loc[rng.random(n) < 0.8, "up"] = None
    frame.loc[rng.random(n) < 0.8, "size"] = None
    frame.to_csv(tmp_path / "t.csv", index=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {{name: tabular-csv, path: {tmp_path / 't.csv'}, "
        "targets: {up: binary, size: regression}}\n"
        "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n"
        "train: {epochs: 2, batch_size: 4, threads: 1}\n"
    )
    script = Path(__file__).with_name("torchrun_commands.py")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    equal = ["train", str(config), "--quiet", "--out", str(tmp_path / "equal")]
    pcgrad = ["train", str(config), "--quiet", "--out", str(tmp_path / "pcgrad"), "--set"]
    pcgrad.append("train.weighting=pcgrad")
    result = subprocess.run(  # both commands in one launch (tests/torchrun_commands.py)
        [*launcher, "--nproc_per_node", "2", str(script), *equal, ":::", *pcgrad],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(script.parent.parent), path])},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.findall(r"^exit (\d+)$", result.stdout, re.M) == ["0", "2"], result.stderr[-3000:]
    record = json.loads((tmp_path / "equal" / "metrics.json").read_text())
    assert all(math.isfinite(v) for m in record["tasks"].values() for v in m.values())
    assert "under torchrun with partial labels" in result.stderr


def test_only_an_empty_cell_is_a_missing_label(tmp_path: Path) -> None:
    """Text that pandas reads as missing ("None") may be a class: refused, naming it; whole
    numbers beside empty cells keep their names ('1', not '1.0')."""
    path = tmp_path / "t.csv"
    severity = ["None", "Mild", "Severe"] * 100
    frame = pd.DataFrame({"a": range(300), "severity": severity, "grade": [1, 2, None] * 100})
    frame.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"'severity' holds 'None' in 100 cells"):
        load_dataset("tabular-csv", path=path, targets={"severity": "classification"})
    data = load_dataset("tabular-csv", path=path, targets={"grade": "classification"})
    assert data.preprocessing is not None
    assert data.preprocessing.targets[0].classes == ["1", "2"]
