"""The runs layer and the public API: a search delivers its model as a run folder, the API
returns models, and searches scale over torchrun like training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sharenas
from sharenas.runs.training import evaluate_run

SEARCHES = {
    "fusion": "search:\n  fusion: {own_weight: 0.8}\n  gradient: {arch_lr: 0.05}\n",
    "routing": "search:\n  space: routing\n  routing: {experts: 2}\n  derive: retrain\n",
    "branching": "search:\n  space: branching\n  affinity: {every: 2}\n",
}


def search_yaml(tmp_path: Path, space: str, widths: str = "[8, 8]") -> Path:
    path = tmp_path / f"{space}.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 256, val_size: 64, test_size: 64, dim: 8}\n"
        f"model: {{backbone: {{name: mlp, widths: {widths}}}}}\n"
        "train: {epochs: 2, batch_size: 32, threads: 1}\n" + SEARCHES[space]
    )
    return path


@pytest.mark.parametrize("space", ["fusion", "routing"])
def test_a_search_delivers_a_run_folder(tmp_path: Path, space: str, cli) -> None:
    """evaluate, train --arch and load_run treat the search's folder like any run; arch.json
    records the backbone, so train --arch rebuilds the searched network, not the default one."""
    searched = search_yaml(tmp_path, space, widths="[12, 6]")
    found = sharenas.search(searched, tmp_path / "out", baselines=False, progress=False)
    run = tmp_path / "out" / "search"
    for name in ("config.yaml", "arch.json", "best.pt", "metrics.json"):
        assert (run / name).exists(), name
    record = json.loads((run / "metrics.json").read_text())
    assert record["tasks"] == found.metrics["tasks"]
    assert evaluate_run(run, "test") == record["tasks"]
    arch = json.loads((run / "arch.json").read_text())
    assert arch["model"]["backbone"]["widths"] == [12, 6]

    default = search_yaml(tmp_path, space)  # the same task set with a [8, 8] backbone
    trained = cli(
        "train", str(default), "--arch", str(run / "arch.json"), "--out", str(tmp_path / "t"), "-q"
    )
    assert trained.returncode == 0, trained.stderr
    again = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert again["params"] == record["params"]

    loaded = sharenas.load_run(run)
    x = sharenas.load_dataset(loaded.config.data).test.example(5)
    assert not loaded.model.training
    with torch.no_grad():
        a, b = loaded.model(x), found.model(x)
    for task in a:
        assert torch.equal(a[task], b[task])
    shown = cli("evaluate", str(run), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert {r["task"] for r in rows} == set(record["tasks"])


def test_train_api_returns_the_model(tmp_path: Path) -> None:
    config = search_yaml(tmp_path, "fusion")
    run = sharenas.train(
        config, tmp_path / "r", arch="mmoe", overrides=["train.epochs=1"], progress=False
    )
    assert run.metrics["arch"] == "mmoe" and run.folder == tmp_path / "r"
    assert isinstance(run.model, torch.nn.Module) and not run.model.training
    x = sharenas.load_dataset(run.config.data).test.example(3)
    assert set(run.model(x)) == {"task1", "task2"}


def test_smoke_runs_have_their_own_folder(tmp_path: Path, cli) -> None:
    config = search_yaml(tmp_path, "fusion")
    smoke = cli("train", str(config), "--smoke", "-q", "--format", "csv", cwd=tmp_path)
    assert smoke.returncode == 0, smoke.stderr
    assert smoke.stdout.splitlines()[0].startswith("run,arch,")
    assert (tmp_path / "runs/smoke/synthetic-mmoe-hard-sharing-s0/metrics.json").exists()
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    real = subprocess.run(  # not blocked by the smoke run; its table piped, at no set width
        [sys.executable, "-m", "sharenas.cli", "train", str(config), "-q"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert real.returncode == 0, real.stderr
    header = next(line for line in real.stdout.splitlines() if "MFLOPs/example" in line)
    assert "task1 mae" in header and "Δ_MTL %" in header  # one line, no word wrapped
    assert (tmp_path / "runs/synthetic-mmoe-hard-sharing-s0/metrics.json").exists()


def test_two_process_search_matches_one_process(tmp_path: Path, cli) -> None:
    """A one-shot search under torchrun with 2 CPU processes (gloo) = 1 process with the same
    global batch, up to float reordering: the same architecture, and every test metric of the
    delivered model within 1e-4 relative (weight steps are data parallel; policy steps are
    replicated); for the fusion and the routing search. The one-process searches run in this
    process.

    The two-process searches are ``sharenas search`` (the console script's entry point) run in
    turn by tests/rank_agreement.py in one torchrun launch, which also checks after every step
    that the network, the fusion gates and the routing policy are bitwise the same on both ranks
    (the check only reads the state)."""
    spaces = ("fusion", "routing")
    common = ["--no-baselines", "--quiet"]
    commands = []
    for space in spaces:
        config = search_yaml(tmp_path, space)
        one = cli("search", str(config), "--out", str(tmp_path / space / "one"), *common)
        assert one.returncode == 0, one.stderr
        commands += [":::", "search", str(config), "--out", str(tmp_path / space / "two"), *common]
    script = Path(__file__).with_name("rank_agreement.py")
    report = tmp_path / "agreement.json"
    path = os.environ.get("PYTHONPATH", "")
    two = subprocess.run(
        [
            *(sys.executable, "-m", "torch.distributed.run", "--standalone"),
            *("--nproc_per_node", "2", str(script), str(report), *commands[1:]),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(script.parent.parent), path])},
    )
    assert two.returncode == 0, two.stderr[-3000:]
    for space, checked in zip(spaces, json.loads(report.read_text()), strict=True):
        assert checked["checked"] >= 8 and checked["disagreed"] == 0, space
        a, b = (
            json.loads((tmp_path / space / d / "search" / "arch.json").read_text())
            for d in ("one", "two")
        )
        keys = ("edges",) if space == "fusion" else ("layers", "towers")
        assert all(a[k] == b[k] for k in keys), space
        one_record, two_record = (
            json.loads((tmp_path / space / d / "search" / "metrics.json").read_text())
            for d in ("one", "two")
        )
        for task, metrics in one_record["tasks"].items():
            for name, value in metrics.items():
                assert two_record["tasks"][task][name] == pytest.approx(value, rel=1e-4), (
                    space,
                    task,
                    name,
                )
