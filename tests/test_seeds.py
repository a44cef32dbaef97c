"""--seeds: every seed in its own folder, finished seeds kept, one report over the seeds with
mean ± std, Δ_MTL per seed and the searched model paired with every baseline."""

from __future__ import annotations

import json
from pathlib import Path


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 200, val_size: 64, test_size: 64, dim: 8}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
        "search:\n  routing: {experts: 2}\n  space: routing\n"
        "  baselines: [single-task, hard-sharing, random]\n  random_architectures: 1\n"
    )
    return path


def test_a_search_over_seeds_reports_them_together(tmp_path: Path, cli) -> None:
    config, out = write_config(tmp_path), tmp_path / "s"
    first = cli("search", str(config), "--seeds", "0,1,2", "--out", str(out), "-q")
    assert first.returncode == 0, first.stderr
    report = (out / "report.md").read_text()
    assert "Seeds 0, 1, 2" in report and "## Δ_MTL % per seed" in report
    assert "| hard-sharing |" in report and "random (mean of 1)" in report
    paired = report.split("paired over seeds")[1]
    assert paired.count("| hard-sharing |") >= 2 and "[" in paired  # every metric, intervals
    for seed in (0, 1, 2):
        record = json.loads((out / f"seed-{seed}" / "search" / "metrics.json").read_text())
        assert record["seed"] == seed
    one = (out / "seed-0" / "report.md").read_text()  # a single seed's report stands alone
    for part in ("**What was searched**", "**Budget**", "![", "Reading: on this one seed"):
        assert part in one, part
    assert "Reading: over 3 seeds the searched model" in report
    assert (out / "report.png").exists() and (out / "report.svg").exists()
    assert "Reading: over 3 seeds" in first.stdout  # said at the end of the command
    stamp = (out / "seed-0" / "search" / "metrics.json").stat().st_mtime_ns
    (out / "seed-2" / "seed-runs.json").unlink()  # seed 2 as if interrupted at the very end
    again = cli("search", str(config), "--seeds", "0,1,2", "--out", str(out), "-q")
    assert again.returncode == 0, again.stderr
    assert (out / "seed-0" / "search" / "metrics.json").stat().st_mtime_ns == stamp  # kept
    assert (out / "report.md").read_text() == report


def test_training_over_seeds_and_bad_seed_lists(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path)
    done = cli(
        "train", str(config), "--arch", "mmoe", "--seeds", "3,4", "--out", str(tmp_path / "t"), "-q"
    )
    assert done.returncode == 0, done.stderr
    assert "| mmoe |" in (tmp_path / "t" / "report.md").read_text()
    for bad, message in (("0,x", "integers"), ("1,1", "distinct")):
        result = cli("train", str(config), "--seeds", bad)
        assert result.returncode == 2 and message in result.stderr
    both = cli("train", str(config), "--seeds", "0,1", "--seed", "2")
    assert both.returncode == 2 and "one of them" in both.stderr
