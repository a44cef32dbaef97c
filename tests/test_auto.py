"""``search.max_flops`` holds in every space, and ``sharenas auto`` searches every space that
applies within one budget, recommends one model (a run folder that loads and predicts) and
resumes after a kill without redoing finished work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import sharenas
from sharenas.errors import ConfigError

TINY = (
    "data: {name: synthetic-mmoe, train_size: 200, val_size: 64, test_size: 64, dim: 8}\n"
    "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
    "train: {epochs: 2, batch_size: 32, threads: 1}\n"
    "search:\n  routing: {experts: 2}\n  random_architectures: 1\n"
    "  study: {trials: 3}\n  evaluation: {distill_steps: 5}\n"
)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(TINY)
    return path


def _search(config: Path, out: Path, space: str, budget: float) -> dict:
    found = sharenas.search(
        config,
        out,
        overrides=[f"search.space={space}", f"search.max_flops={budget}"],
        baselines=False,
        progress=False,
    )
    return found.metrics


def _fusion_space(config: Path, overrides: list[str]):
    from sharenas.config import load_config
    from sharenas.runs.training import load_data, task_handlers
    from sharenas.spaces.registry import create_space

    loaded = load_config(config, ["search.space=fusion", *overrides])
    data = load_data(loaded, None)
    assert loaded.search is not None
    space = create_space(
        "fusion", task_handlers(data), data.input_spec, loaded.model, loaded.search.fusion
    )
    return loaded, data, space, data.val.example(2)


def test_every_space_delivers_within_max_flops(tmp_path: Path) -> None:
    from sharenas.search.budget import genotype_flops

    config = write_config(tmp_path)
    _, _, space, example = _fusion_space(config, [])
    cheapest = genotype_flops(space, space.cheapest(), example)
    free = _search(config, tmp_path / "fusion-free", "fusion", 1e12)
    assert free["flops_per_example"] > cheapest  # the unconstrained search keeps edges
    tight = _search(config, tmp_path / "fusion", "fusion", cheapest + 1)
    assert tight["flops_per_example"] <= cheapest + 1 and tight["edges_kept"] == 0
    hard = sharenas.train(config, tmp_path / "hs", arch="hard-sharing", progress=False)
    budget = hard.metrics["flops_per_example"]
    routed = _search(config, tmp_path / "routing", "routing", budget)
    assert routed["flops_per_example"] <= budget
    with pytest.raises(ConfigError, match="search.max_flops"):  # before any training
        _search(config, tmp_path / "fusion-none", "fusion", cheapest / 2)
    assert not (tmp_path / "fusion-none" / "search" / "supernet" / "history.jsonl").exists()


def test_random_architectures_are_drawn_within_the_budget(tmp_path: Path) -> None:
    from sharenas.runs.random_archs import random_genotypes
    from sharenas.search.budget import genotype_flops

    _, data, space, example = _fusion_space(write_config(tmp_path), [])
    generator = torch.Generator().manual_seed(0)
    costs = sorted(genotype_flops(space, space.sample(generator), example) for _ in range(20))
    budget = costs[len(costs) // 2]  # about half the space fits
    limited, _, _, _ = _fusion_space(
        write_config(tmp_path), [f"search.max_flops={budget}", "search.random_architectures=6"]
    )
    drawn = random_genotypes(limited, data)
    assert all(genotype_flops(space, g, example) <= budget for g in drawn)


def _units(out: Path) -> dict:
    path = out / "auto.json"
    try:
        return json.loads(path.read_text()).get("units", {}) if path.exists() else {}
    except json.JSONDecodeError:
        return {}


def test_auto_recommends_a_model_within_the_budget_and_resumes(tmp_path: Path, cli) -> None:
    config, out = write_config(tmp_path), tmp_path / "auto"
    command = [sys.executable, "-m", "sharenas.cli", "auto", str(config), "--budget",
               "hard-sharing", "--out", str(out), "--thorough", "-q"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while process.poll() is None and len(_units(out)) < 3:
        time.sleep(0.05)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)  # killed mid-run
    process.wait()
    before = {
        name: (Path(u["folder"]) / "metrics.json").stat().st_mtime_ns
        for name, u in _units(out).items()
        if u.get("folder") and (Path(u["folder"]) / "metrics.json").exists()
    }
    done = cli(
        "auto", str(config), "--budget", "hard-sharing", "--out", str(out), "--thorough", "-q"
    )
    assert done.returncode == 0, done.stderr
    for name, stamp in before.items():  # finished work is not redone
        assert (Path(_units(out)[name]["folder"]) / "metrics.json").stat().st_mtime_ns == stamp
    state = json.loads((out / "auto.json").read_text())
    budget = state["plan"]["budget"]
    assert {"baseline single-task", "baseline hard-sharing", "rung 0 partition"} <= set(
        state["units"]
    )
    # at hard-sharing's FLOPs every route is hard-sharing's network: routing is not searched
    assert "hard-sharing network" in state["plan"]["one_network"]["routing"]
    assert not any(u.endswith("routing") for u in state["units"])
    assert "fusion search" in state["plan"]["left_out"]  # its cheapest point is over the budget
    for name, unit in state["units"].items():  # every model but the reference fits the budget
        runs = [Path(unit["folder"])] if unit.get("folder") else []
        if name.startswith("random "):
            runs = [p for p in runs[0].iterdir() if p.is_dir()]
        for run in runs if name != "baseline single-task" else []:
            assert sharenas.load_run(run).metrics["flops_per_example"] <= budget, name
    report = (out / "report.md").read_text()
    parts = ("**Recommended:", "Total cost:", "successive halving kept", "Not searched: routing")
    for part in (*parts, "![", "| model |"):
        assert part in report, part
    assert (out / "front.png").exists() and (out / "front.svg").exists()
    recommended = sharenas.load_run(out / "recommended")
    assert recommended.metrics["flops_per_example"] <= budget
    model = sharenas.load_model(out / "recommended")
    assert set(model.predict({"numeric": torch.randn(4, 8)}).tasks) == {"task1", "task2"}
    exported = sharenas.export_model(model, "exported-program", tmp_path / "model.pt2")
    assert exported.path.exists() and exported.max_abs_difference <= 1e-5


def test_auto_over_seeds_with_no_time_left_and_bad_requests(tmp_path: Path, cli) -> None:
    config, out = write_config(tmp_path), tmp_path / "auto"
    bad = cli("auto", str(config), "--budget", "lots", "--out", str(out))
    assert bad.returncode == 2 and "--budget 'lots'" in bad.stderr
    args = ["--budget", "hard-sharing", "--out", str(out), "--eta", "2", "--thorough"]
    first = cli("auto", str(config), *args, "--seeds", "0,1", "--time", "1e-6", "-q")
    assert first.returncode == 0, first.stderr
    state = json.loads((out / "auto.json").read_text())
    assert state["survivors"] == [] and "time left" in state["survivors_why"]
    report = (out / "report.md").read_text()
    assert "## Over seeds 0, 1" in report and "| recommended |" in report
    assert (out / "seeds" / "seed-1" / "recommended" / "metrics.json").exists()
    again = [*args, "--seeds", "0,1", "--time", "1e-6", "-q"]
    shown = json.loads(cli("auto", str(config), *again, "--format", "json").stdout)
    models = shown["tables"]["every evaluated model (sorted by validation Δ_MTL)"]
    assert all(isinstance(m["MFLOPs"], float) for m in models)
    assert all(isinstance(m["within budget"], bool) for m in models)
    assert shown["tables"]["over seeds 0, 1"][0]["role"] == "recommended"
    assert shown["decision"] in ("room", "no room", "not measured") and shown["smoke"] is False
    assert Path(shown["recommended"]["folder"]).is_dir() and "report" in shown["files"]
    assert isinstance(shown["recommended"]["test_delta_mtl"], float)
    table = cli("auto", str(config), *again).stdout  # text and rich tables, not Markdown
    assert "Recommended:" in table and "| model |" not in table and "┃ model" in table
    heading = next(line for line in table.splitlines() if "sharenas auto within" in line)
    assert len(heading) <= 100  # piped, text is not padded to 10,000 columns (it was)
    assert max(map(len, table.splitlines())) < 1000
    other = cli(
        "auto", str(config), "--budget", "1G", "--out", str(out), "--eta", "2", "--thorough"
    )
    assert other.returncode == 2 and "same" in other.stderr
