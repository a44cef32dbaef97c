"""Benchmark: the branching search where the best sharing is known (issue 32).

For every ``p_out`` and seed: a ``synthetic-groups`` set (groups 5 + 3 by default, p_in 0.9; the
data seed = the run seed) and, with the same data, seed and training budget: single-task,
hard-sharing, MMoE, PLE, the oracle (``task-groups`` with the planted groups: one branch per
group from the input), the branching search (affinity strategy, the found tree retrained) and
``--random`` random trees of the branching space; ``--searches`` adds the other spaces' searches
(fusion, routing, partition) on the same set, each with ``--random-other`` random points of its
own space.

Prints per ``p_out``: Δ_MTL % against single-task (mean ± std), FLOPs and parameters per model;
the paired differences of the branching search against hard-sharing, the best other baseline,
the oracle and the random trees (95 % t intervals: beats / tie / below); the share of the
oracle's gain over hard-sharing the search recovers; the adjusted Rand index of the tree's leaf
groups against the planted ones; and the search's cost in hard-sharing trainings (its
measuring training, then the final training of the tree).

``--config FILE`` runs the same comparison on another task set (no oracle, no planted groups;
``--set KEY=VALUE`` overrides), e.g. census-income with eight targets.

    python benchmarks/branching.py --p-out 0.5,0,-0.5 --seeds 0,1,2,3,4 --jobs 2
    python benchmarks/branching.py --config ../configs/census-branching.yaml --seeds 0,1,2 \
        --set train.max_batches=100

``--reuse OUT[,OUT]`` keeps an earlier run's records (from its ``--out`` files) for every model but
``--searches``, which run again (their random points too where ``--random-other`` > 0), e.g.
after a change to one search:

    python benchmarks/branching.py --p-out=-0.5,0,0.5 --seeds 5,6,7,8,9 --random 0 \
        --random-other 0 --searches partition --reuse first.jsonl --out rerun.jsonl
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from cells import run_cells
from sharenas.affinity import adjusted_rand_index
from sharenas.api import search as api_search
from sharenas.config import build_config
from sharenas.data import create_dataset
from sharenas.data.synthetic_groups import group_of
from sharenas.report.paired import mean_std, paired_difference
from sharenas.runs.folder import with_arch
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.random_archs import train_random
from sharenas.runs.records import read_metrics
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl

BASELINES = ["single-task", "hard-sharing", "mmoe", "ple"]
ORACLE = "oracle (task-groups)"
SEARCH = "branching search"


def base_config(
    groups: list[int], epochs: int, train_size: int, widths: list[int]
) -> dict[str, Any]:
    return {
        "data": {
            "name": "synthetic-groups",
            "groups": groups,
            "p_in": 0.9,
            "dim": 20,
            "train_size": train_size,
            "val_size": 500,
            "test_size": 1000,
        },
        "model": {"backbone": {"name": "mlp", "widths": widths}},
        "train": {"epochs": epochs, "batch_size": 64},
        "search": {"space": "branching", "baselines": []},
    }


def planted(groups: list[int]) -> list[list[str]]:
    return [[f"g{g}t{k}" for k in range(size)] for g, size in enumerate(groups)]


def run_cell(
    raw: dict[str, Any],
    overrides: list[str],
    folder: Path,
    random: int,
    searches: list[str],
    random_other: int,
    stored: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every model of one (p_out, seed) cell: name -> metrics record; 'random' -> records.
    ``stored``: an earlier run's cell, whose records are kept for everything but ``searches``."""
    from sharenas.config import apply_overrides

    config = build_config(apply_overrides(raw, overrides))
    data = create_dataset(config.data).load()
    shutil.rmtree(folder, ignore_errors=True)
    if stored is not None:
        rerun = {f"{s} search" for s in searches} | {f"random {s}" for s in searches}
        kept = {k: v for k, v in stored.items() if k not in rerun}
        fresh = run_searches(raw, overrides, folder, data, searches, random_other)
        for s in searches:  # random points not drawn again: the stored ones
            fresh[f"random {s}"] = fresh[f"random {s}"] or stored.get(f"random {s}", [])
        return {**kept, **fresh}
    results: dict[str, Any] = {}
    for arch in BASELINES:
        results[arch] = train(with_arch(config, arch), folder / arch, data=data, progress=False)
    if raw["data"]["name"] == "synthetic-groups":
        groups = planted(raw["data"]["groups"])
        oracle = config.model_copy(
            update={"model": config.model.model_copy(update={"groups": groups})}
        )
        results[ORACLE] = train(
            with_arch(oracle, "task-groups"), folder / "oracle", data=data, progress=False
        )
    record, _ = run_oneshot_search(config, folder / "search", data=data, progress=False)
    results[SEARCH] = record
    results |= run_searches(raw, overrides, folder, data, searches, random_other)
    runs = []
    if random:
        drawn = build_config(
            apply_overrides(raw, [*overrides, f"search.random_architectures={random}"])
        )
        runs = train_random(drawn, folder / "random", data, progress=False)
    results["random"] = [read_metrics(run) for run in runs]
    return results


def run_searches(
    raw: dict[str, Any],
    overrides: list[str],
    folder: Path,
    data: Any,
    searches: list[str],
    random_other: int,
) -> dict[str, Any]:
    """Each other space's search and ``random_other`` random points of its space."""
    from sharenas.config import apply_overrides

    results: dict[str, Any] = {}
    for space in searches:
        drawn_count = [f"search.random_architectures={random_other}"] if random_other else []
        spaced = [*overrides, f"search.space={space}", *drawn_count]
        other = build_config(apply_overrides(raw, spaced))
        found = api_search(other, folder / space, baselines=False, progress=False)
        results[f"{space} search"] = found.metrics
        drawn_runs = (
            train_random(other, folder / f"random-{space}", data, progress=False)
            if random_other
            else []
        )
        results[f"random {space}"] = [read_metrics(run) for run in drawn_runs]
    return results


def delta(record: dict[str, Any], single: dict[str, Any]) -> float:
    return delta_mtl(record["primary"], single["primary"], record["higher_is_better"])


def cost_in_trainings(cell: dict[str, Any]) -> tuple[float, float]:
    """(the measuring training, the whole search with the final training of the tree), each
    ÷ one hard-sharing training's seconds."""
    record, hard = cell[SEARCH], cell["hard-sharing"]["train_seconds"]
    return record["search_seconds"] / hard, record["train_seconds"] / hard


def report(title: str, cells: list[dict[str, Any]], groups: list[int]) -> None:
    deltas: dict[str, list[float]] = {}
    flops: dict[str, float] = {}
    params: dict[str, float] = {}
    models = [m for m in cells[0] if not m.startswith("random") and all(m in c for c in cells)]
    for model in models:
        deltas[model] = [delta(c[model], c["single-task"]) for c in cells]
        flops[model] = statistics.fmean(c[model]["flops_per_example"] for c in cells)
        params[model] = statistics.fmean(c[model]["params"] for c in cells)
    if all(c["random"] for c in cells):
        name = f"random trees ({len(cells[0]['random'])} per seed, mean)"
        deltas[name] = [
            statistics.fmean(delta(r, c["single-task"]) for r in c["random"]) for c in cells
        ]
        flops[name] = statistics.fmean(r["flops_per_example"] for c in cells for r in c["random"])
        params[name] = statistics.fmean(r["params"] for c in cells for r in c["random"])
    print(f"\n### {title} ({len(cells)} seeds)\n")
    print("| model | Δ_MTL % vs single-task | kFLOPs / example | params |")
    print("|---|---|---|---|")
    for model, values in deltas.items():
        print(
            f"| {model} | {mean_std(values, 2)} | {flops[model] / 1e3:.3g} | {params[model]:.0f} |"
        )
    others = [m for m in BASELINES[1:] if m in deltas]
    best = max(others, key=lambda m: statistics.fmean(deltas[m]))
    print("\n| branching search − reference (Δ_MTL points) | mean [95 % CI] | verdict |")
    print("|---|---|---|")
    randoms = [m for m in deltas if m.startswith("random")]
    references = ["hard-sharing", best, *([ORACLE] if ORACLE in deltas else []), *randoms]
    for reference in dict.fromkeys(references):
        diff = paired_difference(deltas[SEARCH], deltas[reference])
        label = f"{reference} (best baseline)" if reference == best else reference
        print(f"| {label} | {diff.text()} | {diff.verdict()} |")
    costs = [cost_in_trainings(c) for c in cells]
    before = mean_std([c[0] for c in costs], 2)
    whole = mean_std([c[1] for c in costs], 2)
    print(f"\ncost in hard-sharing trainings: {before} before the final training, {whole} with it")
    for c in cells:
        print(f"  seed {c[SEARCH]['seed']}: {c[SEARCH]['tree']}")
    if ORACLE in deltas:
        planted_report(deltas, cells, groups)
    other_searches_report(deltas, cells, best)


def other_searches_report(
    deltas: dict[str, list[float]], cells: list[dict[str, Any]], best: str
) -> None:
    """Each other space's search against hard-sharing, the best baseline, the oracle, the
    branching search and random points of its own space (same data, seed and budget)."""
    spaces = [m.removesuffix(" search") for m in deltas if m.endswith(" search") and m != SEARCH]
    if not spaces:
        return
    print("\n| search − reference (Δ_MTL points) | mean [95 % CI] | verdict |")
    print("|---|---|---|")
    for space in spaces:
        if all(c[f"random {space}"] for c in cells):
            own = [
                statistics.fmean(delta(r, c["single-task"]) for r in c[f"random {space}"])
                for c in cells
            ]
            kflops = statistics.fmean(
                r["flops_per_example"] for c in cells for r in c[f"random {space}"]
            )
            diff = paired_difference(deltas[f"{space} search"], own)
            print(
                f"| {space}: random points of its space (mean {mean_std(own, 2)}, "
                f"{kflops / 1e3:.3g} kFLOPs) | {diff.text()} | {diff.verdict()} |"
            )
        references = ["hard-sharing", best, *([ORACLE] if ORACLE in deltas else []), SEARCH]
        for reference in dict.fromkeys(references):
            diff = paired_difference(deltas[f"{space} search"], deltas[reference])
            print(f"| {space}: {reference} | {diff.text()} | {diff.verdict()} |")


def planted_report(
    deltas: dict[str, list[float]], cells: list[dict[str, Any]], groups: list[int]
) -> None:
    """The share of the oracle's gain recovered and the leaf groups' ARI."""
    gain = [s - h for s, h in zip(deltas[SEARCH], deltas["hard-sharing"], strict=True)]
    room = [o - h for o, h in zip(deltas[ORACLE], deltas["hard-sharing"], strict=True)]
    recovered = statistics.fmean(gain) / statistics.fmean(room) if statistics.fmean(room) else 0
    truth = group_of(groups)
    labels = [leaf_labels(c[SEARCH], truth) for c in cells]
    ari = [adjusted_rand_index(lab, truth) for lab in labels]
    print(
        f"oracle's gain over hard-sharing recovered: {100 * recovered:.0f} % "
        f"(search − hard {statistics.fmean(gain):+.2f}, oracle − hard "
        f"{statistics.fmean(room):+.2f} points); leaf-group ARI {mean_std(ari, 2)} "
        f"({sum(a == 1.0 for a in ari)}/{len(ari)} exact)"
    )


def leaf_labels(record: dict[str, Any], truth: list[int]) -> list[int]:
    tasks = list(record["primary"])
    leaves = record["leaf_groups"]
    return [next(i for i, g in enumerate(leaves) if t in g) for t in tasks]


def stored_cells(files: list[Path]) -> dict[tuple[float, int], dict[str, Any]]:
    """(p_out, seed) -> the cell of an earlier run's ``--out`` file (the last one wins)."""
    cells = {}
    for file in files:
        for line in file.read_text().splitlines():
            row = json.loads(line)
            cells[(float(row["p_out"]), int(row["seed"]))] = row["cell"]
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p-out", default="0.5,0,-0.5")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--groups", default="5,3")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--widths", default="128,128,128")
    parser.add_argument("--random", type=int, default=5)
    parser.add_argument("--searches", default="", help="other spaces, e.g. fusion,routing")
    parser.add_argument(
        "--random-other", type=int, default=3, help="random points of each other space per seed"
    )
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--config", type=Path, default=None, help="another task set's config")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument(
        "--reuse",
        default="",
        help="earlier --out files: their cells' records are kept and only --searches run again",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-branching"))
    parser.add_argument("--out", type=Path, default=Path("branching.jsonl"))
    args = parser.parse_args()
    groups = [int(g) for g in args.groups.split(",")]
    searches = [s for s in args.searches.split(",") if s]
    if args.config:
        import yaml

        raw = yaml.safe_load(args.config.read_text())
        raw["search"] = {"space": "branching", "baselines": []}
        p_outs = ["0"]
    else:
        widths = [int(w) for w in args.widths.split(",")]
        raw = base_config(groups, args.epochs, args.train_size, widths)
        p_outs = args.p_out.split(",")
    planted_set = raw["data"]["name"] == "synthetic-groups"
    grid = [(float(p), int(s)) for p in p_outs for s in args.seeds.split(",")]
    stored = stored_cells([Path(f) for f in args.reuse.split(",") if f])
    missing = [cell for cell in grid if args.reuse and cell not in stored]
    if missing:
        raise SystemExit(f"--reuse: no stored cell for (p_out, seed) {missing}")
    cells = [
        (
            raw,
            [
                *([f"data.p_out={p}", f"data.seed={s}"] if planted_set else []),
                f"seed={s}",
                "train.threads=1",
                *args.overrides,
            ],
            args.runs / f"p{p:+.1f}-s{s}",
            args.random,
            searches,
            args.random_other,
            stored.get((p, s)) if args.reuse else None,
        )
        for p, s in grid
    ]
    outcomes = run_cells(run_cell, cells, args.jobs)
    with args.out.open("a") as handle:
        for (p, s), cell in zip(grid, outcomes, strict=True):
            handle.write(json.dumps({"p_out": p, "seed": s, "cell": cell}, default=str) + "\n")
    for p in dict.fromkeys(p for p, _ in grid):
        title = f"p_out = {p:+.1f}" if planted_set else str(args.config)
        report(title, [c for (q, _), c in zip(grid, outcomes, strict=True) if q == p], groups)


if __name__ == "__main__":
    main()
