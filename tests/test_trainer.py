import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sharenas.config import build_config
from sharenas.data import load_dataset
from sharenas.engine.config import TrainConfig
from sharenas.engine.optim import create_schedule
from sharenas.engine.step import StepInfo
from sharenas.errors import SharenasError, TrainingError
from sharenas.runs.training import train
from sharenas.weightings import create_weighting
from tests.conftest import tiny_image_task_set


def tiny_config(arch: str = "hard-sharing", **train: object):
    return build_config(
        {
            "data": {
                "name": "synthetic-mmoe",
                "train_size": 256,
                "val_size": 64,
                "test_size": 64,
                "dim": 8,
            },
            "model": {"arch": arch, "backbone": {"name": "mlp", "widths": [16, 8]}},
            "train": {"epochs": 3, "batch_size": 32, **train},
        }
    )


def test_run_folder_and_metrics_record(tmp_path: Path) -> None:
    record = train(tiny_config(), tmp_path / "run", progress=False)
    for name in (
        "config.yaml",
        "arch.json",
        "history.jsonl",
        "checkpoint.pt",
        "best.pt",
        "metrics.json",
    ):
        assert (tmp_path / "run" / name).exists(), name
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(record))
    assert set(saved["tasks"]) == {"task1", "task2"} and set(saved["tasks"]["task1"]) == {
        "mse",
        "mae",
    }
    assert saved["primary"]["task1"] == saved["tasks"]["task1"]["mse"]
    assert saved["delta_mtl"] is None
    assert saved["params"] > 0 and saved["flops_per_example"] > 0 and saved["train_seconds"] > 0
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(history) == 3 and json.loads(history[0])["epoch"] == 0


def test_same_seed_same_result_and_reference_fills_delta(tmp_path: Path) -> None:
    a = train(tiny_config(), tmp_path / "a", progress=False)
    b = train(tiny_config(), tmp_path / "b", progress=False)
    assert a["tasks"] == b["tasks"]
    single = train(tiny_config("single-task"), tmp_path / "single", progress=False)
    c = train(tiny_config(), tmp_path / "c", progress=False, reference=tmp_path / "single")
    assert c["delta_mtl"] == pytest.approx(
        100
        * sum(
            -(c["primary"][t] - single["primary"][t]) / single["primary"][t]
            for t in ("task1", "task2")
        )
        / 2
    )


def test_resume_after_interruption_matches_uninterrupted_run(tmp_path: Path) -> None:
    full = train(tiny_config(), tmp_path / "full", progress=False)

    def crash(info: StepInfo, values: dict) -> None:
        if info.epoch == 1 and info.step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), tmp_path / "cut", progress=False, callbacks=[crash])
    with pytest.raises(SharenasError, match="checkpoint of an unfinished run"):
        train(tiny_config(), tmp_path / "cut", progress=False)
    resumed = train(tiny_config(), tmp_path / "cut", progress=False, resume=True)
    assert resumed["tasks"] == full["tasks"]
    assert resumed["best_epoch"] == full["best_epoch"]


def test_a_training_paused_at_a_rung_finishes_as_the_uninterrupted_run(tmp_path: Path) -> None:
    from sharenas.runs.training import ensure_trained

    full = train(tiny_config(), tmp_path / "full", progress=False)
    paused = train(tiny_config(), tmp_path / "rung", progress=False, until=1)
    assert paused == {"paused": True, "epochs_run": 1}
    assert not (tmp_path / "rung" / "metrics.json").exists()
    again = train(tiny_config(), tmp_path / "rung", progress=False, resume=True, until=1)
    assert again == paused  # a rung resumed at its end stays paused
    ensure_trained(tiny_config(), tmp_path / "rung", progress=False)  # continued: finished
    finished = json.loads((tmp_path / "rung" / "metrics.json").read_text())
    assert finished["tasks"] == full["tasks"] and finished["best_epoch"] == full["best_epoch"]


def test_a_checkpoint_of_the_previous_layout_resumes(tmp_path: Path) -> None:
    """Checkpoints written before the step contract held one 'optimizer' and no step state."""
    from sharenas.engine.checkpoint import load_checkpoint, save_checkpoint

    full = train(tiny_config(), tmp_path / "full", progress=False)
    first = tiny_config().model_copy(deep=True)
    first.train.epochs = 1
    train(first, tmp_path / "old", progress=False)
    path = tmp_path / "old" / "checkpoint.pt"
    state = load_checkpoint(path)
    state["optimizer"] = state.pop("optimizer.weights")
    del state["step"]
    save_checkpoint(state, path)
    resumed = train(tiny_config(), tmp_path / "old", progress=False, resume=True)
    assert resumed["tasks"] == full["tasks"]


def test_resume_after_sigkill_matches(tmp_path: Path, cli) -> None:
    """Kill a CLI training process mid-run, resume it, and compare with an uninterrupted run.
    94 steps an epoch: after the first epoch's line, three epochs (about a second) remain to
    kill it in, polled every 0.05 s."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "data: {name: synthetic-mmoe, train_size: 1500, val_size: 200, test_size: 200, dim: 32}\n"
        "model: {arch: mmoe, backbone: {name: mlp, widths: [64, 32]}, experts: 4}\n"
        "train: {epochs: 4, batch_size: 16, threads: 1}\n"
    )
    args = ["train", str(config), "--quiet"]
    full = cli(*args, "--out", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    env = {**os.environ, "SHARENAS_DATA": os.environ["SHARENAS_DATA"]}
    process = subprocess.Popen(
        [sys.executable, "-m", "sharenas.cli", *args, "--out", str(tmp_path / "cut")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    history = tmp_path / "cut" / "history.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (history.exists() and history.read_text().count("\n")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (tmp_path / "cut" / "metrics.json").exists()
    resumed = cli(*args, "--out", str(tmp_path / "cut"), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads((tmp_path / "full" / "metrics.json").read_text())
    second = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert first["tasks"] == second["tasks"]


def test_nan_loss_stops_with_task_and_step_and_keeps_checkpoint(tmp_path: Path) -> None:
    config = tiny_config(epochs=1)
    train(config, tmp_path / "run", progress=False)
    data = load_dataset(config.data)
    data.train.targets["task2"][5] = float("inf")  # NaN would be a missing label
    longer = build_config(
        {
            **config.model_dump(mode="json"),
            "train": {**config.train.model_dump(mode="json"), "epochs": 3},
        }
    )
    (tmp_path / "run" / "metrics.json").unlink()
    with pytest.raises(TrainingError, match=r"task 'task2': loss is inf at epoch 2, step \d+"):
        train(longer, tmp_path / "run", progress=False, resume=True, data=data)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 0


def test_early_stopping(tmp_path: Path) -> None:
    """A network that cannot learn (lr 1e-9, no batch norm whose statistics would still move)
    stops after ``early_stopping`` stale epochs."""
    config = tiny_config(epochs=10, lr=1e-9, early_stopping=2)
    config.model.backbone.norm = "none"  # type: ignore[union-attr]
    record = train(config, tmp_path / "r", progress=False)
    assert record["epochs_run"] < 10


@pytest.mark.parametrize("weighting", ["equal", "fixed", "uncertainty"])
def test_loss_weightings_train(tmp_path: Path, weighting: str) -> None:
    record = train(
        tiny_config(weighting=weighting, task_weights={"task1": 2.0}),
        tmp_path / "r",
        progress=False,
    )
    history = [
        json.loads(x) for x in (tmp_path / "r" / "history.jsonl").read_text().split("\n") if x
    ]
    weights = history[-1]["loss_weights"]
    if weighting == "fixed":
        assert weights == {"task1": 2.0, "task2": 1.0}
    elif weighting == "uncertainty":
        assert weights["task1"] != 1.0  # learned
    else:
        assert weights == {"task1": 1.0, "task2": 1.0}
    assert all(math.isfinite(v) for v in record["primary"].values())


def test_uncertainty_weighting_formula() -> None:
    w = create_weighting("uncertainty", ["a", "b"])
    with torch.no_grad():
        w.log_variance.copy_(torch.tensor([0.5, -1.0]))
    total = w({"a": torch.tensor(2.0), "b": torch.tensor(3.0)})
    expected = math.exp(-0.5) * 2 + 0.5 + math.exp(1.0) * 3 - 1.0
    assert float(total.detach()) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("schedule", "middle", "end"),
    [("constant", 1.0, 1.0), ("cosine", 0.5, 0.0), ("poly", 0.5**0.9, 0.0)],
)
def test_schedules(schedule: str, middle: float, end: float) -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = create_schedule(optimizer, TrainConfig(schedule=schedule), total_steps=10)
    for _ in range(5):
        optimizer.step()
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(middle)
    for _ in range(5):
        optimizer.step()
        sched.step()
    assert sched.get_last_lr()[0] == pytest.approx(end, abs=1e-12)


def test_sgd_and_cosine_run(tmp_path: Path) -> None:
    record = train(
        tiny_config(optimizer="sgd", schedule="cosine", lr=0.01), tmp_path / "r", progress=False
    )
    assert all(math.isfinite(v) for v in record["primary"].values())


# Data parallel over 2 CPU processes (gloo) = 1 process with the same global batch (equal
# weighting, every test metric within 1e-4): test_weightings.py::test_two_processes_match_one,
# whose one torchrun launch also runs MGDA and Nash-MTL.


@pytest.mark.parametrize("arch", ["single-task", "hard-sharing", "cross-stitch", "nddr"])
@pytest.mark.parametrize("backbone", ["cnn", "resnet", "encdec"])
def test_vision_architectures_train(tmp_path: Path, arch: str, backbone: str) -> None:
    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},  # replaced by the generated image task set below
            "model": {"arch": arch, "backbone": {"name": backbone, "channels": [4, 8]}},
            "train": {"epochs": 2, "batch_size": 10},
        }
    )
    record = train(config, tmp_path / "r", progress=False, data=tiny_image_task_set())
    assert set(record["tasks"]) == {"seg", "label"}
    assert 0.0 <= record["primary"]["seg"] <= 1.0 and record["epochs_run"] == 2


def test_tensorboard_without_the_extra_is_a_clear_error(tmp_path: Path) -> None:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(SharenasError, match=r"pip install 'sharenas\[tensorboard\]'"):
            train(tiny_config(tensorboard=True), tmp_path / "r", progress=False)
    else:
        train(tiny_config(tensorboard=True), tmp_path / "r", progress=False)
        assert any((tmp_path / "r" / "tensorboard").iterdir())
