"""Benchmark: the exhaustive task-grouping table (Standley et al., ICML 2020) and where each
strategy's answer lands in it (issue 32).

Every partition of the task set into groups (Bell(5) = 52 for five tasks) is trained as
``task-groups`` (one network per group from the input) for every seed, with the same data and
budget; the table (each grouping's Δ_MTL % against the all-apart grouping, which is single-task,
per seed) is stored as JSON. Then, NAS-Bench style, each strategy's answer is placed in the table
without retraining: its rank (1 = best mean Δ_MTL), its regret (best − its mean Δ_MTL, points)
and its cost in hard-sharing trainings.

Strategies: TAG's grouping of the lookahead affinity (``sharenas affinity``: group_tasks on Z),
the leaf groups of the branching search's affinity tree read from the same measurement, hard
sharing and single-task (no cost), and a uniformly random grouping (its expected rank and regret).

    python benchmarks/groupings.py planted --seeds 0,1,2 --jobs 2
    python benchmarks/groupings.py census --seeds 0,1,2 --jobs 2
    python benchmarks/groupings.py planted --reuse     # place the strategies in the stored table
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cells import run_cells
from sharenas.affinity import group_tasks
from sharenas.affinity.tree import affinity_tree
from sharenas.config import apply_overrides, build_config
from sharenas.data import create_dataset
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl
from sharenas.workflows.affinity import measure_affinity

TASK_SETS: dict[str, dict[str, Any]] = {
    "planted": {
        "data": {
            "name": "synthetic-groups",
            "groups": [3, 2],
            "p_in": 0.9,
            "p_out": 0.0,
            "dim": 20,
            "train_size": 1000,
            "val_size": 500,
            "test_size": 1000,
        },
        "model": {"backbone": {"name": "mlp", "widths": [128, 128, 128]}},
        "train": {"epochs": 30, "batch_size": 64},
    },
    "census": {
        "data": {
            "name": "census-income",
            "tasks": ["income", "never_married", "education", "female", "age"],
            "limit": 30000,
        },
        "model": {"backbone": {"name": "mlp", "widths": [64, 32]}, "tower": [16]},
        "train": {"epochs": 4, "batch_size": 512, "lr": 0.003},
    },
}


def partitions(items: list[str]) -> Iterator[list[list[str]]]:
    """Every partition of ``items`` into non-empty groups, each once (Bell(n) of them)."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for smaller in partitions(rest):
        for i in range(len(smaller)):
            yield [*smaller[:i], [first, *smaller[i]], *smaller[i + 1 :]]
        yield [[first], *smaller]


def key(groups: list[list[str]], tasks: list[str]) -> str:
    """A grouping's name, groups in task order: ``{a b} {c}``."""
    order = {t: i for i, t in enumerate(tasks)}
    ordered = sorted((sorted(g, key=order.__getitem__) for g in groups), key=lambda g: order[g[0]])
    return " ".join("{" + " ".join(g) + "}" for g in ordered)


def train_grouping(
    raw: dict[str, Any], overrides: list[str], folder: Path, groups: list[list[str]]
) -> dict[str, Any]:
    config = build_config(apply_overrides(raw, [*overrides, "model.arch=task-groups"]))
    config = config.model_copy(update={"model": config.model.model_copy(update={"groups": groups})})
    shutil.rmtree(folder, ignore_errors=True)
    return train(config, folder, progress=False)


def measure(raw: dict[str, Any], overrides: list[str], folder: Path) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    return measure_affinity(build_config(apply_overrides(raw, overrides)), folder, progress=False)


def tree_leaves(record: dict[str, Any]) -> list[int]:
    """The leaf groups of the branching search's tree from an affinity record (price 0)."""
    stages = sorted(record["stage_lookahead"])
    staged = [np.asarray(record["stage_lookahead"][s]) for s in stages]
    errors = [np.asarray(record["stage_lookahead_se"][s]) for s in stages]
    labels, _ = affinity_tree(staged, [1.0] * len(staged), 0.0, None, errors)
    return labels[-1]


def as_groups(labels: list[int], tasks: list[str]) -> list[list[str]]:
    return [
        [t for t, lab in zip(tasks, labels, strict=True) if lab == g] for g in sorted(set(labels))
    ]


def build_table(
    raw: dict[str, Any],
    tasks: list[str],
    seeds: list[int],
    overrides: dict[int, list[str]],
    runs: Path,
    jobs: int,
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Every grouping trained for every seed: (Δ_MTL % per grouping and seed, mean seconds)."""
    every = list(partitions(tasks))
    cells = [
        (raw, overrides[s], runs / f"s{s}" / str(i), g) for s in seeds for i, g in enumerate(every)
    ]
    records = run_cells(train_grouping, cells, jobs)
    by_seed: dict[int, dict[str, dict[str, Any]]] = {s: {} for s in seeds}
    for (_, _, folder, groups), record in zip(cells, records, strict=True):
        by_seed[int(folder.parent.name[1:])][key(groups, tasks)] = record
    alone = key([[t] for t in tasks], tasks)
    table = {
        k: {
            str(s): delta_mtl(
                by_seed[s][k]["primary"],
                by_seed[s][alone]["primary"],
                by_seed[s][alone]["higher_is_better"],
            )
            for s in seeds
        }
        for k in by_seed[seeds[0]]
    }
    seconds = {k: statistics.fmean(by_seed[s][k]["train_seconds"] for s in seeds) for k in table}
    return table, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task_set", choices=sorted(TASK_SETS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-groupings"))
    parser.add_argument(
        "--table", type=Path, default=None, help="default tables/groupings-NAME.json"
    )
    parser.add_argument("--reuse", action="store_true", help="read the table, train no grouping")
    args = parser.parse_args()
    raw = TASK_SETS[args.task_set]
    seeds = [int(s) for s in args.seeds.split(",")]
    data = create_dataset(build_config(raw).data).load()
    tasks = [t.name for t in data.tasks]
    overrides = {
        s: [f"seed={s}", "train.threads=1"]
        + ([f"data.seed={s}"] if raw["data"]["name"] == "synthetic-groups" else [])
        for s in seeds
    }
    runs = args.runs / args.task_set
    path = args.table or Path("tables") / f"groupings-{args.task_set}.json"
    if args.reuse:
        stored = json.loads(path.read_text())
        table, seconds = stored["delta_mtl"], stored["train_seconds"]
    else:
        table, seconds = build_table(raw, tasks, seeds, overrides, runs, args.jobs)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "tasks": tasks,
            "config": raw,
            "seeds": seeds,
            "delta_mtl": table,
            "train_seconds": seconds,
        }
        path.write_text(json.dumps(record, indent=1))
    alone = key([[t] for t in tasks], tasks)
    mean = {k: statistics.fmean(v.values()) for k, v in table.items()}
    ranked = sorted(mean, key=mean.__getitem__, reverse=True)
    print(f"\n{len(ranked)} groupings × {len(seeds)} seeds; table: {path}\n")
    print("| rank | grouping | Δ_MTL % mean ± std |\n|---|---|---|")
    for r, k in enumerate(ranked[:8], 1):
        values = list(table[k].values())
        print(f"| {r} | {k} | {mean[k]:+.2f} ± {statistics.stdev(values):.2f} |")
    hard = key([tasks], tasks)
    print(f"| {ranked.index(hard) + 1} | {hard} (hard sharing) | {mean[hard]:+.2f} |")
    measured = run_cells(
        measure, [(raw, overrides[s], runs / f"affinity-s{s}") for s in seeds], args.jobs
    )
    hard_seconds = seconds[hard]
    answers = {
        "TAG grouping of the lookahead affinity": [
            (key(as_groups(group_tasks(m["lookahead"]), tasks), tasks), m["train_seconds"])
            for m in measured
        ],
        "branching search's affinity tree, leaf groups": [
            (key(as_groups(tree_leaves(m), tasks), tasks), m["train_seconds"]) for m in measured
        ],
        "hard sharing": [(hard, 0.0)] * len(seeds),
        "single-task": [(alone, 0.0)] * len(seeds),
    }
    best = mean[ranked[0]]
    top = max(1, round(0.1 * len(ranked)))
    print(
        f"\n| strategy | answers (per seed) | rank (of {len(ranked)}) | in best 10 % | "
        "regret (Δ_MTL points) | cost (hard-sharing trainings) |\n|---|---|---|---|---|---|"
    )
    for name, picks in answers.items():
        ranks = [ranked.index(k) + 1 for k, _ in picks]
        regret = [best - mean[k] for k, _ in picks]
        cost = [c / hard_seconds for _, c in picks]
        print(
            f"| {name} | {'; '.join(k for k, _ in picks)} | "
            f"{statistics.fmean(ranks):.1f} | {sum(r <= top for r in ranks)}/{len(ranks)} | "
            f"{statistics.fmean(regret):.2f} | {statistics.fmean(cost):.2f} |"
        )
    expected_rank = (len(ranked) + 1) / 2
    expected_regret = statistics.fmean(best - v for v in mean.values())
    print(
        f"| random grouping (expected) | — | {expected_rank:.1f} | {top / len(ranked):.0%} | "
        f"{expected_regret:.2f} | 0 |"
    )


if __name__ == "__main__":
    main()
