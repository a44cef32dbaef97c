"""Benchmark: hand-designed architectures on the shipped configs (issue 3).

Trains every architecture given, for every seed, with the config's budget, and prints per-task
primary metrics as mean ± std, Δ_MTL against single-task (same seed), params, FLOPs and time,
then (with ≥ 2 seeds) the best baseline paired against every other one, with 95 % intervals:
whether this budget tells the baselines apart.
Results are appended to ``--out`` (JSON lines) so an interrupted benchmark loses nothing.

    python benchmarks/baselines.py configs/census-income.yaml \\
        --archs single-task,hard-sharing,cross-stitch,mmoe,ple --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import torch

from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.report.paired import mean_std
from sharenas.report.seed_table import baseline_separation
from sharenas.runs.folder import resolve_run_config
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--archs", default="single-task,hard-sharing,cross-stitch,nddr")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    archs = args.archs.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    data = create_dataset(load_config(args.config, args.overrides).data).load()
    out = args.out or args.runs / f"{args.config.stem}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    records: dict[tuple[str, int], dict] = {}
    for seed in seeds:
        for arch in archs:
            config = resolve_run_config(args.config, arch, [*args.overrides, f"seed={seed}"])
            run_dir = args.runs / args.config.stem / f"{arch}-s{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            record = train(config, run_dir, progress=False, data=data)
            records[(arch, seed)] = record
            with open(out, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            print(
                f"{arch} seed {seed}: {record['primary']} ({record['train_seconds']:.0f}s)",
                flush=True,
            )
    print_table(records, archs, seeds)
    if len(seeds) > 1:
        runs = {s: {a: records[(a, s)] for a in archs} for s in seeds}
        print("\n## separation: the best baseline against every other (paired)\n")
        print(baseline_separation(runs))


def print_table(records: dict, archs: list[str], seeds: list[int]) -> None:
    first = next(iter(records.values()))
    tasks = list(first["primary"])
    header = [
        "arch",
        *[f"{t} {first['primary_metric'][t]}" for t in tasks],
        "Δ_MTL %",
        "params",
        "MFLOPs/ex",
        "train s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for arch in archs:
        runs = [records[(arch, s)] for s in seeds if (arch, s) in records]
        cells = [arch]
        for task in tasks:
            cells.append(mean_std([r["primary"][task] for r in runs]))
        deltas = [
            delta_mtl(
                r["primary"], records[("single-task", r["seed"])]["primary"], r["higher_is_better"]
            )
            for r in runs
            if ("single-task", r["seed"]) in records
        ]
        cells.append(f"{statistics.mean(deltas):+.2f}" if deltas else "–")
        cells += [
            f"{runs[0]['params']:,}",
            f"{runs[0]['flops_per_example'] / 1e6:.3g}",
            f"{statistics.mean(r['train_seconds'] for r in runs):.0f}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
