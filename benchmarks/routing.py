"""Benchmark: the routing search (issues 5 and 14), measured in one run per mode.

``quality CONFIG``: for every seed, the searched route (derived, then retrained with the same
budget) against single-task, hard-sharing, MMoE and PLE and ``--random K`` routes drawn
uniformly from the space; per-task primary metrics as mean ± std, Δ_MTL, FLOPs per example, the
paired differences against the best baseline and the random routes (95 % t intervals, beats /
tie / below), and the cost ratio search wall time ÷ MMoE training wall time.

``correlation CONFIG``: the MMoE paper's synthetic experiment. For every task correlation p and
seed: test loss of the searched route against MMoE and hard-sharing, and how much the two tasks'
routes share (Jaccard overlap of the sub-networks each tower reaches), and per p the searched
route paired against the best baseline and the random routes over seeds; when it commits (the
epoch from which its most probable route stays the same) and whether one seed finds the same
route at two correlations; writes a figure.

``--variant NAME=KEY=VALUE;KEY=VALUE`` (repeatable) runs several searches per cell, for
ablations; ``--jobs 2`` runs two cells at once with one torch thread each.

    python benchmarks/routing.py quality configs/census-routing.yaml --seeds 0,1,2,3,4
    python benchmarks/routing.py correlation configs/synthetic-mmoe-routing.yaml \\
        --correlations 0.5,0.9,1.0 --seeds 0,1,2 --jobs 2 \\
        --variant "policy routes=search.reinforce.warmup_epochs=0" \\
        --variant "uniform routes=search.reinforce.weight_routes=uniform"
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
from pathlib import Path
from typing import Any

from cells import parse_variant, run_cells
from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.report.paired import mean_std, paired_difference
from sharenas.report.seed_table import paired_report, summary_table
from sharenas.runs.folder import with_arch
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.random_archs import train_random
from sharenas.runs.records import read_metrics
from sharenas.runs.training import train
from sharenas.spaces.routing import RoutingGenotype, needed


def tower_sharing(arch: dict[str, Any]) -> float:
    """Jaccard overlap of the sub-networks the towers reach (1: all shared, 0: disjoint),
    averaged over task pairs."""
    genotype = RoutingGenotype.from_dict(arch)
    layers = arch.get("layers_count", len(arch["layers"]) + 1)
    reach = {}
    for task, route in genotype.towers:
        alone = RoutingGenotype(genotype.layers, ((task, route),))
        reach[task] = needed(alone, layers)[0]
    tasks = list(reach)
    pairs = [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1 :]]
    return statistics.mean(len(reach[a] & reach[b]) / len(reach[a] | reach[b]) for a, b in pairs)


def commitment(folder: Path) -> tuple[int, float]:
    """(the first epoch from which the most probable route never changes, the policy entropy at
    the end) from the search's history."""
    lines = (folder / "supernet" / "history.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    routes = [r["most_probable"] for r in rows]
    first = next(i for i in range(len(routes)) if all(r == routes[-1] for r in routes[i:]))
    return rows[first]["epoch"], rows[-1]["policy_entropy"]


def run_all(  # type: ignore[no-untyped-def]
    config_path: Path, overrides: list[str], runs: Path, archs: list[str], variants, random: int
):
    """Per model name its metrics record (the baselines ``archs`` and every search variant), and
    the records of ``random`` routes drawn from the space, all on one dataset and seed."""
    config = load_config(config_path, overrides)
    data = create_dataset(config.data).load()
    results = {}
    for arch in archs:
        folder = runs / arch
        shutil.rmtree(folder, ignore_errors=True)
        results[arch] = train(with_arch(config, arch), folder, data=data, progress=False)
    for name, extra in variants:
        folder = runs / name.replace(" ", "_")
        shutil.rmtree(folder, ignore_errors=True)
        variant = load_config(config_path, [*overrides, *extra])
        record, _ = run_oneshot_search(variant, folder, data=data, progress=False)
        record["sharing"] = tower_sharing(json.loads((folder / "arch.json").read_text()))
        record["commit_epoch"], record["final_entropy"] = commitment(folder)
        results[name] = record
    randoms = []
    if random:
        folder = runs / "random"
        shutil.rmtree(folder, ignore_errors=True)
        drawn = load_config(config_path, [*overrides, f"search.random_architectures={random}"])
        for run in train_random(drawn, folder, data, progress=False):
            record = read_metrics(run)
            record["sharing"] = tower_sharing(json.loads((run / "arch.json").read_text()))
            randoms.append(record)
    return results, randoms


def quality(args: argparse.Namespace) -> None:
    archs = ["single-task", "hard-sharing", "mmoe", "ple"]
    cells = [
        (
            args.config,
            [*args.overrides, f"seed={seed}"],
            args.runs / args.config.stem / f"s{seed}",
            archs,
            args.variants,
            args.random,
        )
        for seed in args.seeds
    ]
    outcomes = run_cells(run_all, cells, args.jobs)
    results = {seed: out[0] for seed, out in zip(args.seeds, outcomes, strict=True)}
    randoms = {seed: out[1] for seed, out in zip(args.seeds, outcomes, strict=True)}
    searched = [name for name, _ in args.variants]
    rows_by_model = {m: [results[s][m] for s in args.seeds] for m in [*searched, *archs]}
    single = {s: results[s]["single-task"] for s in args.seeds}
    print("\n" + summary_table(rows_by_model, single, ("kFLOPs", 1e3)))
    print("\n" + paired_report(results, searched, randoms if args.random else None))
    for name in searched:
        print(f"\n{name}: routes found, cost (search wall time ÷ MMoE training wall time)")
        for seed in args.seeds:
            record, mmoe = results[seed][name], results[seed]["mmoe"]["wall_seconds"]
            print(
                f"  seed {seed}: {record['route']} ({record['relative_cost']:.2f} chains); "
                f"search {record['search_seconds']:.0f} s, MMoE {mmoe:.0f} s, "
                f"ratio {record['search_seconds'] / mmoe:.2f}"
            )


def correlation(args: argparse.Namespace) -> None:
    archs = ["hard-sharing", "mmoe"]
    searched = [name for name, _ in args.variants]
    grid = [(p, seed) for p in args.correlations for seed in args.seeds]
    cells = [
        (
            args.config,
            [*args.overrides, f"data.correlation={p}", f"data.seed={seed}", f"seed={seed}"],
            args.runs / args.config.stem / f"p{p:g}-s{seed}",
            archs,
            args.variants,
            args.random,
        )
        for p, seed in grid
    ]
    outcomes = dict(zip(grid, run_cells(run_all, cells, args.jobs), strict=True))
    tasks = list(outcomes[grid[0]][0]["mmoe"]["primary"])
    print(
        "\n| p | model | "
        + " | ".join(f"{t} test MSE" for t in tasks)
        + " | MSE ÷ MMoE | route sharing | committed at epoch | final entropy |"
    )
    print("|" + "---|" * (len(tasks) + 6))
    for p in args.correlations:
        runs = [outcomes[(p, s)][0] for s in args.seeds]
        randoms = [r for s in args.seeds for r in outcomes[(p, s)][1]]
        rows_by_model = {m: [run[m] for run in runs] for m in [*searched, *archs]}
        if randoms:
            rows_by_model[f"random routes ({args.random} per seed)"] = randoms
        for model, rows in rows_by_model.items():
            ratio = statistics.mean(
                statistics.mean(r["primary"][t] for t in tasks)
                / statistics.mean(outcomes[(p, r["seed"])][0]["mmoe"]["primary"][t] for t in tasks)
                for r in rows
            )
            extra = [
                mean_std([r[key] for r in rows], 2) if key in rows[0] else ""
                for key in ("sharing", "commit_epoch", "final_entropy")
            ]
            cells_text = [mean_std([r["primary"][t] for r in rows]) for t in tasks]
            print(
                f"| {p:g} | {model} | " + " | ".join([*cells_text, f"{ratio:.3f}", *extra]) + " |"
            )
    for p in args.correlations:
        by_seed = {s: outcomes[(p, s)][0] for s in args.seeds}
        randoms_by_seed = {s: outcomes[(p, s)][1] for s in args.seeds} if args.random else None
        print(f"\n### p = {p:g}: paired over seeds\n")
        print(paired_report(by_seed, searched, randoms_by_seed))
    print(
        "\nmean task MSE ÷ reference, geometric mean over seeds [95 % CI] (paired on log ratios):"
    )
    for p in args.correlations:
        for name in searched:
            for reference in archs:
                ratio = mse_ratio(outcomes, p, args.seeds, name, reference)
                print(f"  p = {p:g}, {name} ÷ {reference}: {ratio}")
    print("\nthe same route at two correlations (same seed), per variant:")
    for name in searched:
        same = sum(
            outcomes[(p, s)][0][name]["route"] == outcomes[(q, s)][0][name]["route"]
            for s in args.seeds
            for i, p in enumerate(args.correlations)
            for q in args.correlations[i + 1 :]
        )
        pairs = len(args.seeds) * len(args.correlations) * (len(args.correlations) - 1) // 2
        print(f"  {name}: {same} of {pairs} pairs")
    sharing_figure(args, outcomes, searched)


def mse_ratio(outcomes: dict, p: float, seeds: list[int], model: str, reference: str) -> str:  # type: ignore[type-arg]
    """The per-seed ratio of mean task MSE, model ÷ reference, as a geometric mean over seeds with
    the 95 % interval of the paired log ratio (seeds draw datasets of very different MSE scale,
    so raw differences are dominated by the hardest dataset) and the verdict."""
    logs = []
    for s in seeds:
        runs = outcomes[(p, s)][0]
        mse = {m: statistics.mean(runs[m]["primary"].values()) for m in (model, reference)}
        logs.append(math.log(mse[model] / mse[reference]))
    d = paired_difference(logs, [0.0] * len(logs))
    verdict = d.verdict(higher_is_better=False)
    return f"{math.exp(d.mean):.3f} [{math.exp(d.low):.3f}, {math.exp(d.high):.3f}] {verdict}"


def sharing_figure(args: argparse.Namespace, outcomes: dict, searched: list[str]) -> None:  # type: ignore[type-arg]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    xs = args.correlations
    for name in searched:
        values = [[outcomes[(p, s)][0][name]["sharing"] for s in args.seeds] for p in xs]
        means = [statistics.mean(v) for v in values]
        spread = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        ax.errorbar(xs, means, yerr=spread, marker="o", capsize=3, label=name)
    ax.set_xlabel("task correlation p")
    ax.set_ylabel("route sharing (Jaccard of sub-networks)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=7)
    fig.tight_layout()
    figure = args.runs / "routing-sharing.png"
    fig.savefig(figure, dpi=120)
    print(f"\nfigure: {figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["quality", "correlation"])
    parser.add_argument("config", type=Path)
    parser.add_argument("--seeds", default="0", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument(
        "--correlations", default="0.5,0.9,1.0", type=lambda s: [float(x) for x in s.split(",")]
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-routing"))
    parser.add_argument(
        "--random", type=int, default=5, help="random routes per seed and cell (0: none)."
    )
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        type=parse_variant,
        help="a search variant NAME=KEY=VALUE;KEY=VALUE (repeatable; default: the config as is)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="cells run at once (1 thread each)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    args.variants = args.variants or [("routing (searched)", [])]
    args.runs.mkdir(parents=True, exist_ok=True)
    quality(args) if args.mode == "quality" else correlation(args)


if __name__ == "__main__":
    main()
