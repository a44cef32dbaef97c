"""Benchmark: does a regression target's unit manufacture negative transfer? (issue 32)

The issue's report: on UCI Adult with five binary targets plus age in years, hard-sharing and
MMoE fell 7–9 % below single-task, the binary tasks collapsing, and tied without the age target.
Adult cannot be fetched here; census-income (the same survey, 1994–95) has the same kind of
targets. Per seed, with the same data and budget: single-task, hard-sharing and MMoE on four
binary targets plus age (years) with regression targets trained in their unit
(``data.standardize_targets: false``) and standardised (the default), and on the four binary
targets alone. Prints Δ_MTL % against single-task (mean ± std), the binary tasks' mean AUC and
the paired difference standardised − in the unit.

    python benchmarks/target_scale.py --seeds 0,1,2 --jobs 2
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from cells import run_cells
from sharenas.config import apply_overrides, build_config
from sharenas.report.paired import mean_std, paired_difference
from sharenas.runs.folder import with_arch
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl

BINARY = ["income", "never_married", "education", "female"]
ARCHS = ["single-task", "hard-sharing", "mmoe"]
VARIANTS = {
    "binary + age, age in years": ([*BINARY, "age"], False),
    "binary + age, standardised": ([*BINARY, "age"], True),
    "binary only": (BINARY, True),
}
RAW: dict[str, Any] = {
    "data": {"name": "census-income"},
    "model": {"backbone": {"name": "mlp", "widths": [128, 64]}, "tower": [32]},
    "train": {"epochs": 4, "batch_size": 1024, "max_batches": 100, "lr": 0.001},
}


def run_cell(raw: dict[str, Any], overrides: list[str], folder: Path, variant: str) -> dict:
    tasks, standardise = VARIANTS[variant]
    config = build_config(apply_overrides(raw, overrides))
    data = config.data.model_copy(update={"tasks": tasks, "standardize_targets": standardise})
    config = config.model_copy(update={"data": data})
    return {arch: train(with_arch(config, arch), folder / arch, progress=False) for arch in ARCHS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-target-scale"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    grid = [(v, s) for v in VARIANTS for s in seeds]
    cells = [
        (RAW, [f"seed={s}", "train.threads=1"], args.runs / f"{i}-s{s}", v)
        for i, (v, s) in enumerate(grid)
    ]
    results = dict(zip(grid, run_cells(run_cell, cells, args.jobs), strict=True))
    deltas: dict[tuple[str, str], list[float]] = {}
    print("| tasks | model | Δ_MTL % vs single-task | binary tasks' mean AUC |")
    print("|---|---|---|---|")
    for variant in VARIANTS:
        for arch in ARCHS:
            runs = [results[(variant, s)] for s in seeds]
            values = [
                delta_mtl(r[arch]["primary"], r["single-task"]["primary"],
                          r[arch]["higher_is_better"])
                for r in runs
            ]  # fmt: skip
            deltas[(variant, arch)] = values
            auc = [statistics.fmean(r[arch]["primary"][t] for t in BINARY) for r in runs]
            print(f"| {variant} | {arch} | {mean_std(values, 2)} | {mean_std(auc, 4)} |")
    print("\n| model | standardised − in years (Δ_MTL points) | verdict |\n|---|---|---|")
    for arch in ARCHS[1:]:
        diff = paired_difference(
            deltas[("binary + age, standardised", arch)],
            deltas[("binary + age, age in years", arch)],
        )
        print(f"| {arch} | {diff.text()} | {diff.verdict()} |")


if __name__ == "__main__":
    main()
