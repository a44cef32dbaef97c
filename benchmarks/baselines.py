"""Benchmark: hand-designed architectures on the shipped configs (issues 3 and 15).

Trains every architecture given, for every seed (and every ``--variant`` of the config), with
the config's budget, and prints per-task primary metrics as mean ± std, Δ_MTL against
single-task (same seed and variant), params, FLOPs and time, then (with ≥ 2 seeds) the best
model paired against every other one, with 95 % intervals: whether this budget tells them apart.
Results are appended to ``--out`` (JSON lines) so an interrupted benchmark loses nothing.

    python benchmarks/baselines.py configs/census-income.yaml \\
        --archs single-task,hard-sharing,cross-stitch,mmoe,ple --seeds 0,1,2
    python benchmarks/baselines.py configs/census-income.yaml --archs hard-sharing \\
        --seeds 0,1,2 --jobs 2 --variant "old" \\
        --variant "batch norm=model.backbone.norm=batch;model.tower_norm=batch"

An arch ``random-SPACE-K`` is the K-th random architecture of SPACE (``Space.sample`` with the
generator of ``search.random_architectures``, so the same draws as ``search.baselines:
[random]``), trained from scratch with the same budget: ``--random 2 --space fusion`` adds
``random-fusion-0`` and ``random-fusion-1`` to ``--archs``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import torch

from cells import parse_variant, run_cells
from sharenas.config import Config, load_config
from sharenas.data import create_dataset
from sharenas.data.base import TaskSetData
from sharenas.report.paired import mean_std
from sharenas.report.seed_table import baseline_separation
from sharenas.runs.folder import resolve_run_config, with_arch
from sharenas.runs.random_archs import random_arch_record, random_genotypes
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl


def train_cell(
    config_path: Path, overrides: list[str], arch: str, seed: int, run_dir: Path
) -> dict:
    """One architecture, one seed, one variant: its metrics record."""
    if arch.startswith("random-"):
        _, space, index = arch.split("-")
        settings = [f"search.space={space}", f"search.random_architectures={int(index) + 1}"]
        config = resolve_run_config(config_path, None, [*overrides, *settings, f"seed={seed}"])
    else:
        config = resolve_run_config(config_path, arch, [*overrides, f"seed={seed}"])
    data = create_dataset(config.data).load()
    if arch.startswith("random-"):
        config = random_config(config, data)
    shutil.rmtree(run_dir, ignore_errors=True)
    return train(config, run_dir, progress=False, data=data)


def random_config(config: Config, data: TaskSetData) -> Config:
    """``config`` with its last random architecture of ``search.space`` as the model."""
    assert config.search is not None
    genotype = random_genotypes(config, data)[-1]
    return with_arch(config, config.search.space, random_arch_record(config, genotype))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--archs", default="single-task,hard-sharing,cross-stitch,nddr")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--variant", action="append", default=[], help="NAME=KEY=VAL;KEY=VAL")
    parser.add_argument("--jobs", type=int, default=1, help="cells run at once (1 thread each)")
    parser.add_argument("--random", type=int, default=0, help="random architectures per seed")
    parser.add_argument("--space", default="fusion", help="the space --random draws from")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    archs = [a for a in args.archs.split(",") if a]
    archs += [f"random-{args.space}-{k}" for k in range(args.random)]
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = [parse_variant(v) for v in args.variant] or [("", [])]
    create_dataset(load_config(args.config, args.overrides).data).load()  # fetched once
    out = args.out or args.runs / f"{args.config.stem}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    cells, labels = [], []
    for seed in seeds:
        for name, extra in variants:
            for arch in archs:
                label = f"{arch} · {name}" if name else arch
                folder = args.runs / args.config.stem / f"{label.replace(' ', '_')}-s{seed}"
                cells.append((args.config, [*args.overrides, *extra], arch, seed, folder))
                labels.append((label, seed))
    records: dict[tuple[str, int], dict] = {}
    for key, record in zip(labels, run_cells(train_cell, cells, args.jobs), strict=True):
        records[key] = record | {"variant_label": key[0]}
        with open(out, "a") as handle:
            handle.write(json.dumps(records[key]) + "\n")
        print(f"{key[0]} seed {key[1]}: {record['primary']} ({record['train_seconds']:.0f}s)")
    models = list(dict.fromkeys(label for label, _ in labels))
    print_table(records, models, seeds)
    if len(seeds) > 1:
        runs = {s: {m: records[(m, s)] for m in models} for s in seeds}
        print("\n## separation: the best model against every other (paired)\n")
        print(baseline_separation(runs))


def single_of(label: str) -> str:
    """The single-task label of the same variant as ``label``."""
    _, sep, variant = label.partition(" · ")
    return f"single-task · {variant}" if sep else "single-task"


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
                r["primary"],
                records[(single_of(arch), r["seed"])]["primary"],
                r["higher_is_better"],
            )
            for r in runs
            if (single_of(arch), r["seed"]) in records
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
