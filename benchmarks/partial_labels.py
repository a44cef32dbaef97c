"""Benchmark: partial labels (issue 34). A share of one task's training labels is removed at
random; the model is trained on what is left (``partial``: the rows stay, the task's loss leaves
them out) and compared with the full labels (``full``) and with what a library without partial
labels makes its user do: drop those rows for every task (``dropped``). Same seeds, budget and
validation/test rows for all three; per task the test primary metric as mean ± std, and the
paired 95 % intervals partial − dropped and partial − full.

    python benchmarks/partial_labels.py configs/census-income.yaml --task income --share 0.5 \\
        --arch hard-sharing --seeds 0,1,2 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch

from cells import run_cells
from sharenas.data import create_dataset
from sharenas.data.base import MultiTaskDataset, TaskSetData
from sharenas.report.paired import mean_std, paired_difference
from sharenas.runs.folder import resolve_run_config
from sharenas.runs.training import train
from sharenas.tasks.labels import labelled_rows

VARIANTS = ("full", "partial", "dropped")


def rows_of(split: MultiTaskDataset, keep: torch.Tensor) -> MultiTaskDataset:
    """The rows ``keep`` of a split, every task's targets with them."""
    inputs = (
        {k: v[keep] for k, v in split.inputs.items()}
        if isinstance(split.inputs, dict)
        else split.inputs[keep]
    )
    targets = {k: v[keep] for k, v in split.targets.items()}
    return MultiTaskDataset(inputs, targets, list(split.tasks.values()))


def variant_data(config_path: Path, overrides: list[str], variant: str, task: str) -> TaskSetData:
    """The task set of a variant: the full labels, or the share of ``task``'s labels removed
    (the rows kept for the other tasks, or dropped for all)."""
    config = resolve_run_config(config_path, None, overrides)
    data = create_dataset(config.data).load()
    if variant == "dropped":
        spec = next(t for t in data.tasks if t.name == task)
        train_split = data.splits["train"]
        assert isinstance(train_split, MultiTaskDataset)
        data.splits["train"] = rows_of(train_split, labelled_rows(spec, train_split.targets[task]))
    return data


def train_cell(
    config_path: Path, overrides: list[str], variant: str, task: str, share: float, run_dir: Path
) -> dict:
    """One variant, one seed (in ``overrides``): its metrics record."""
    removed = [] if variant == "full" else [f"data.drop_labels={json.dumps({task: share})}"]
    data = variant_data(config_path, [*overrides, *removed], variant, task)
    config = resolve_run_config(config_path, None, [*overrides, *removed])
    shutil.rmtree(run_dir, ignore_errors=True)
    record = train(config, run_dir, progress=False, data=data)
    return record | {"train_rows": len(data.train)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--task", required=True, help="the task whose labels are removed")
    parser.add_argument("--share", type=float, default=0.5)
    parser.add_argument("--arch", default="hard-sharing")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--runs", type=Path, default=Path("runs/bench/partial-labels"))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    base = [*args.overrides, f"model.arch={args.arch}"]
    cells = [
        (args.config, [*base, f"seed={s}"], v, args.task, args.share, args.runs / f"{v}-s{s}")
        for s in seeds
        for v in VARIANTS
    ]
    records = run_cells(train_cell, cells, args.jobs)
    by = {(c[2], s): r for c, r, s in zip(cells, records, [c[1][-1] for c in cells], strict=True)}
    with open(args.runs / "records.jsonl", "a") as handle:
        for (variant, seed), record in by.items():
            handle.write(json.dumps({"variant": variant, "seed": seed, **record}) + "\n")
    report(by, seeds, list(records[0]["primary"]))


def report(by: dict, seeds: list[int], tasks: list[str]) -> None:
    """The table and the paired intervals (printed as markdown)."""
    values = {
        (v, t): [by[(v, f"seed={s}")]["primary"][t] for s in seeds] for v in VARIANTS for t in tasks
    }
    print("| labels | train rows | " + " | ".join(tasks) + " |")
    print("|---|---|" + "---|" * len(tasks))
    for v in VARIANTS:
        rows = by[(v, f"seed={seeds[0]}")]["train_rows"]
        cells = [mean_std(values[(v, t)]) for t in tasks]
        print(f"| {v} | {rows:,} | " + " | ".join(cells) + " |")
    for other in ("dropped", "full"):
        for t in tasks:
            diff = paired_difference(values[("partial", t)], values[(other, t)])
            print(f"partial − {other}, {t}: {diff.text(4)}")


if __name__ == "__main__":
    main()
