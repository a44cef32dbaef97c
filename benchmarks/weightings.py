"""Benchmark: loss weightings against equal weighting on hard sharing (issue 34, part 3).

For every set, seed and method, a hard-sharing model is trained with the shipped config's budget
(MultiMNIST: ``configs/multimnist-libmtl.yaml``, LibMTL's LeNet recipe, 10 epochs; census:
``configs/census-income.yaml``, up to 8 epochs with early stopping), changing only
``train.weighting``; a single-task model per seed is the Δ_MTL reference. Per seed the methods
run one after the other, so each sees the same machine load as equal weighting does. Printed
per set and method: each task's primary test metric as mean ± std over seeds, Δ_MTL (%) vs
single-task, the paired 95 % interval of Δ_MTL(method) − Δ_MTL(equal) over seeds
(``sharenas.report.paired``), and the training time per step relative to equal weighting
(same steps per epoch; the mean over seeds of the per-seed ratios of seconds per epoch).

Usage (from the repository root; the full measurement, one process, all CPU threads)::

    python benchmarks/weightings.py --sets multimnist,census --seeds 5 \\
        --methods dwa,gradnorm,pcgrad,mgda,cagrad,nash_mtl --out runs/bench/weightings.md

Options: ``--sets`` (multimnist, census; comma-separated), ``--seeds N`` (seeds 0..N−1,
default 5), ``--methods`` (weightings beside equal, which always runs), ``--rows N`` (at most N
rows per split: ``data.limit``), ``--epochs N`` (``train.epochs``), ``--threads N``
(``train.threads``), ``--runs DIR`` (run folders, default runs/bench/weightings), ``--out PATH``
(the markdown table; every run's row goes to PATH with suffix .csv), ``--first-seed K`` (seeds
K..K+N−1: split the seeds over processes of 1 thread each), ``--collect`` (train nothing: the
table of the trainings already in ``--runs``). A smoke check::

    python benchmarks/weightings.py --sets census --seeds 1 --methods pcgrad --rows 300 \\
        --epochs 1 --out /tmp/w.md
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
from pathlib import Path

import torch

from sharenas.data import create_dataset
from sharenas.report.paired import mean_std, paired_difference
from sharenas.runs.folder import resolve_run_config
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    "multimnist": ROOT / "configs" / "multimnist-libmtl.yaml",
    "census": ROOT / "configs" / "census-income.yaml",
}
METHODS = "dwa,gradnorm,pcgrad,mgda,cagrad,nash_mtl"


def overrides(args: argparse.Namespace, seed: int) -> list[str]:
    extra = [f"seed={seed}"]
    if args.rows:
        extra.append(f"data.limit={args.rows}")
    if args.epochs:
        extra.append(f"train.epochs={args.epochs}")
    if args.threads:
        extra.append(f"train.threads={args.threads}")
    return extra


def run(args: argparse.Namespace, name: str, arch: str, method: str, seed: int) -> dict:
    """One training: its metrics record, plus the method and seed."""
    config = resolve_run_config(
        SETS[name], arch, [*overrides(args, seed), f"train.weighting={method}"]
    )
    folder = args.runs / name / f"{arch}-{method}-s{seed}"
    if args.collect:  # a training of an earlier (or parallel) invocation
        record = json.loads((folder / "metrics.json").read_text())
    else:
        shutil.rmtree(folder, ignore_errors=True)
        record = train(config, folder, progress=False, data=args.data[name])
    per_epoch = record["train_seconds"] / max(1, record["epochs_run"])
    print(f"{name} {arch} {method} seed {seed}: {record['primary']} ({per_epoch:.2f} s/epoch)")
    return {**record, "method": method, "seed": seed, "seconds_per_epoch": per_epoch}


def measure(args: argparse.Namespace, name: str) -> tuple[list[dict], list[dict]]:
    """(single-task records, weighting records) of one set over every seed."""
    singles, runs = [], []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        singles.append(run(args, name, "single-task", "equal", seed))
        for method in ["equal", *args.methods]:
            record = run(args, name, "hard-sharing", method, seed)
            record["delta_mtl"] = delta_mtl(
                record["primary"], singles[-1]["primary"], record["higher_is_better"]
            )
            runs.append(record)
    return singles, runs


def table(name: str, runs: list[dict], methods: list[str]) -> list[str]:
    """Markdown rows of one set: metrics, Δ_MTL, paired difference vs equal, time ratio."""
    by = {
        m: sorted((r for r in runs if r["method"] == m), key=lambda r: r["seed"]) for m in methods
    }
    tasks = list(runs[0]["primary"])
    metric = runs[0]["primary_metric"]
    header = ["set", "method", *[f"{t} {metric[t]}" for t in tasks], "Δ_MTL %"]
    header += ["Δ_MTL − equal [95 %]", "time/step ÷ equal"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    equal = by["equal"]
    for method in methods:
        rows = by[method]
        cells = [name, method, *[mean_std([r["primary"][t] for r in rows]) for t in tasks]]
        cells.append(mean_std([r["delta_mtl"] for r in rows], digits=2))
        if method == "equal":
            cells.append("–")
        else:
            diff = paired_difference(
                [r["delta_mtl"] for r in rows], [r["delta_mtl"] for r in equal]
            )
            cells.append(f"{diff.text()} ({diff.verdict()})")
        ratios = [
            r["seconds_per_epoch"] / e["seconds_per_epoch"]
            for r, e in zip(rows, equal, strict=True)
        ]
        cells.append(f"{statistics.fmean(ratios):.2f}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def write_csv(path: Path, runs: list[dict]) -> None:
    fields = ["set", "method", "seed", "delta_mtl", "seconds_per_epoch", "epochs_run"]
    fields += ["best_epoch", "primary"]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in runs:
            writer.writerow({**r, "primary": " ".join(f"{k}={v}" for k, v in r["primary"].items())})


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="multimnist,census")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds K..K+N−1")
    parser.add_argument(
        "--collect", action="store_true", help="read the trainings in --runs, train nothing"
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/bench/weightings"))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    args.sets = [s for s in args.sets.split(",") if s]
    args.methods = [m for m in args.methods.split(",") if m and m != "equal"]
    unknown = sorted(set(args.sets) - set(SETS))
    if unknown:
        parser.error(f"unknown sets {unknown}; known: {sorted(SETS)}")
    return args


def main() -> None:
    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.data = {}
    lines, every = [], []
    methods = ["equal", *args.methods]
    for name in args.sets:
        config = resolve_run_config(SETS[name], "hard-sharing", overrides(args, 0))
        if not args.collect:
            args.data[name] = create_dataset(config.data).load()  # one load per set
        _, runs = measure(args, name)
        every += [{**r, "set": name} for r in runs]
        rows = table(name, runs, methods)
        lines += rows if not lines else rows[2:]  # one header
    print("\n" + "\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        write_csv(args.out.with_suffix(".csv"), every)


if __name__ == "__main__":
    main()
