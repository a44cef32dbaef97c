"""Fault injection: each kind of run is killed with SIGKILL at several points and resumed with
``--resume``; the result equals the uninterrupted run's, and no partition is evaluated twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

DATA = "data: {name: synthetic-mmoe, train_size: 750, val_size: 64, test_size: 64, dim: 8}\n"
MODEL = "model: {backbone: {name: mlp, widths: [16, 8]}}\n"
BUDGET = "train: {epochs: 3, batch_size: 16, threads: 1}\n"
SEARCHES = {
    "fusion": "search: {fusion: {own_weight: 0.8}, derive: finetune, derive_epochs: 3}\n",
    "routing": "search: {space: routing, routing: {experts: 2}, derive: retrain}\n",
}


def kill_when(args: list[str], ready: Callable[[], bool], timeout: float = 180) -> None:
    """Start ``sharenas ARGS``, SIGKILL it as soon as ``ready()`` holds."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sharenas.cli", *args],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + timeout
    while time.time() < deadline and not ready() and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "the run finished before the kill point"
    process.send_signal(signal.SIGKILL)
    process.wait()


def lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


def test_training_killed_before_its_first_checkpoint_resumes(tmp_path: Path, cli) -> None:
    """Killed while still in epoch 0 (config written, no checkpoint yet): --resume starts it and
    gives the uninterrupted result. Only the killed run needs a process of its own."""
    config = tmp_path / "c.yaml"
    data = DATA.replace("750", "1500")  # its first epoch is the window to kill it in
    config.write_text(data + MODEL.replace("{backbone", "{arch: mmoe, backbone") + BUDGET)
    args = ["train", str(config), "-q"]
    assert cli(*args, "--out", str(tmp_path / "full")).returncode == 0
    cut = tmp_path / "cut"
    kill_when([*args, "--out", str(cut)], lambda: (cut / "config.yaml").exists())
    assert not (cut / "checkpoint.pt").exists()
    resumed = cli(*args, "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    full, again = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("full", "cut"))
    assert full["tasks"] == again["tasks"]


@pytest.mark.parametrize("space", ["fusion", "routing"])
def test_a_search_killed_at_two_points_resumes_to_the_same_result(
    tmp_path: Path, space: str, cli
) -> None:
    """Killed during the supernet search, then again while the derived network trains: the
    resumed search delivers the uninterrupted one's architecture and test metrics. 47 steps an
    epoch; after the derived network's first epoch, two epochs (94 steps) remain to kill it in."""
    config = tmp_path / "c.yaml"
    config.write_text(DATA + MODEL + BUDGET + SEARCHES[space])
    args = ["search", str(config), "--no-baselines", "-q"]
    assert cli(*args, "--out", str(tmp_path / "full")).returncode == 0
    cut = tmp_path / "cut"
    derived = cut / "search" / ("finetune" if space == "fusion" else "retrain")
    kill_when([*args, "--out", str(cut)], lambda: lines(cut / "search/supernet/history.jsonl") > 0)
    kill_when([*args, "--out", str(cut), "--resume"], lambda: lines(derived / "history.jsonl") > 0)
    assert not (cut / "search" / "metrics.json").exists()
    resumed = cli(*args, "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for name in ("arch.json", "metrics.json"):
        full, again = (
            json.loads((d / "search" / name).read_text()) for d in (tmp_path / "full", cut)
        )
        if name == "arch.json":
            assert full == again
        else:
            assert full["tasks"] == again["tasks"]


PARTITION = (
    DATA.replace("750", "300")
    + MODEL
    + "train: {epochs: 1, batch_size: 50, threads: 1}\n"
    + "search:\n  space: partition\n  strategy: nsga2\n  partition: {stages: [0, 1]}\n"
    + "  evaluation: {evaluator: distill, distill_steps: 40, distill_batch: 32}\n"
    + "  study: {trials: 10, population: 4, heartbeat: 1}\n"
)


def complete(folder: Path) -> int:
    """Trials of the study that are complete (read while the search runs)."""
    database = folder / "search" / "study.db"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=0.2) as connection:
            query = "SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'"
            return connection.execute(query).fetchone()[0]
    except sqlite3.Error:
        return 0


def distinct_partitions(folder: Path) -> tuple[int, int]:
    trials = json.loads((folder / "search" / "trials.json").read_text())
    done = [json.dumps(t["genotype"], sort_keys=True) for t in trials if t["state"] == "COMPLETE"]
    return len(done), len(set(done))


def test_a_partition_search_killed_twice_gives_the_same_front(tmp_path: Path, cli) -> None:
    """NSGA-II killed after 3 and after 6 evaluations: the resumed study evaluates no partition
    twice and ends with the uninterrupted front. On SQLite only: the study is stored through
    Optuna's RDB storage for PostgreSQL alike, and a worker killed in a trial on a PostgreSQL
    server, then resumed, is covered by test_partition_search.py::
    test_a_killed_worker_leaves_the_study_usable[postgresql]."""
    config = tmp_path / "p.yaml"
    config.write_text(PARTITION)
    args = ["search", str(config), "-q"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert cli(*args, "--out", str(full)).returncode == 0
    kill_when([*args, "--out", str(cut)], lambda: complete(cut) >= 3)
    kill_when([*args, "--out", str(cut), "--resume"], lambda: complete(cut) >= 6)
    resumed = cli(*args, "--out", str(cut), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    evaluated, distinct = distinct_partitions(cut)
    assert evaluated == distinct == 10
    fronts = [
        sorted(json.dumps(p["genotype"], sort_keys=True) for p in json.loads(f.read_text()))
        for f in (full / "search/front.json", cut / "search/front.json")
    ]
    assert fronts[0] == fronts[1]


def test_two_partition_workers_never_evaluate_one_partition_twice(tmp_path: Path, cli) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(PARTITION.replace("heartbeat: 1", "heartbeat: 1, workers: 2"))
    result = cli("search", str(config), "-q", "--out", str(tmp_path / "two"))
    assert result.returncode == 0, result.stderr
    evaluated, distinct = distinct_partitions(tmp_path / "two")
    assert evaluated == distinct == 10
