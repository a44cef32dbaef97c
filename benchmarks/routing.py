"""Benchmark: the routing search (issue 5), measured in one run per mode.

``quality CONFIG``: for every seed, the searched route (derived, then retrained with the same
budget) against single-task, hard-sharing, MMoE and PLE and ``--random K`` routes drawn
uniformly from the space; per-task primary metrics as mean ± std, Δ_MTL, FLOPs per example, the
paired differences against the best baseline and the random routes (95 % t intervals, beats /
tie / below), and the cost ratio search wall time ÷ MMoE training wall time.

``correlation CONFIG``: the MMoE paper's synthetic experiment. For every task correlation p and
seed: test loss of the searched route against MMoE and hard-sharing, and how much the two tasks'
routes share (Jaccard overlap of the sub-networks each tower reaches), and per p the searched
route paired against the best baseline over seeds; writes a figure.

    python benchmarks/routing.py quality configs/census-routing.yaml --seeds 0,1,2,3,4
    python benchmarks/routing.py correlation configs/synthetic-mmoe-routing.yaml \\
        --correlations 0.5,0.9,1.0 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.report.paired import mean_std
from sharenas.report.runs import read_metrics
from sharenas.report.seed_table import paired_report
from sharenas.runs.folder import with_arch
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.random_archs import train_random
from sharenas.runs.training import train
from sharenas.spaces.routing import RoutingGenotype, needed
from sharenas.tasks import delta_mtl


def tower_sharing(arch: dict[str, Any]) -> float:
    """Jaccard overlap of the sub-networks the towers reach (1: all shared, 0: disjoint),
    averaged over task pairs."""
    genotype = RoutingGenotype.from_dict(arch)
    layers = arch["layers_count"]
    reach = {}
    for task, route in genotype.towers:
        alone = RoutingGenotype(genotype.layers, ((task, route),))
        reach[task] = needed(alone, layers)[0]
    tasks = list(reach)
    pairs = [(a, b) for i, a in enumerate(tasks) for b in tasks[i + 1 :]]
    return statistics.mean(len(reach[a] & reach[b]) / len(reach[a] | reach[b]) for a, b in pairs)


def run_all(config_path: Path, overrides: list[str], runs: Path, archs: list[str]):  # type: ignore[no-untyped-def]
    config = load_config(config_path, overrides)
    data = create_dataset(config.data).load()
    results = {}
    for arch in archs:
        folder = runs / arch
        shutil.rmtree(folder, ignore_errors=True)
        results[arch] = train(with_arch(config, arch), folder, data=data, progress=False)
    folder = runs / "routing"
    shutil.rmtree(folder, ignore_errors=True)
    results["routing (searched)"], _ = run_oneshot_search(config, folder, data=data, progress=False)
    results["routing (searched)"]["sharing"] = tower_sharing(
        json.loads((folder / "arch.json").read_text())
    )
    return results


def quality(args: argparse.Namespace) -> None:
    archs = ["single-task", "hard-sharing", "mmoe", "ple"]
    results: dict[int, dict[str, dict]] = {}
    randoms: dict[int, list[dict]] = {}
    for seed in args.seeds:
        runs = args.runs / args.config.stem / f"s{seed}"
        overrides = [*args.overrides, f"seed={seed}"]
        results[seed] = run_all(args.config, overrides, runs, archs)
        print(f"seed {seed}: route {results[seed]['routing (searched)']['route']}", flush=True)
        if args.random:
            config = load_config(
                args.config, [*overrides, f"search.random_architectures={args.random}"]
            )
            folder = runs / "random"
            shutil.rmtree(folder, ignore_errors=True)
            data = create_dataset(config.data).load()
            trained = train_random(config, folder, data, progress=False)
            randoms[seed] = [read_metrics(run) for run in trained]
    first = results[args.seeds[0]]["single-task"]
    tasks = list(first["primary"])
    print("\n| model | " + " | ".join(f"{t} {first['primary_metric'][t]}" for t in tasks), end="")
    print(" | Δ_MTL % | kFLOPs/example | params |")
    print("|" + "---|" * (len(tasks) + 4))
    for arch in ["routing (searched)", *archs]:
        rows = [results[s][arch] for s in args.seeds]
        deltas = [
            delta_mtl(
                r["primary"], results[r["seed"]]["single-task"]["primary"], r["higher_is_better"]
            )
            for r in rows
        ]
        cells = [mean_std([r["primary"][t] for r in rows]) for t in tasks]
        flops = statistics.mean(r["flops_per_example"] for r in rows) / 1e3
        params = statistics.mean(r["params"] for r in rows)
        print(
            f"| {arch} | "
            + " | ".join(cells)
            + f" | {mean_std(deltas, 2)} | {flops:.0f} | {params:.0f} |"
        )
    print("\n" + paired_report(results, ["routing (searched)"], randoms))
    print("\nroutes found:")
    for seed in args.seeds:
        record = results[seed]["routing (searched)"]
        print(f"  seed {seed}: {record['route']} (cost {record['relative_cost']:.2f} chains)")
    print("\ncost (search wall time ÷ MMoE training wall time, same run):")
    for seed in args.seeds:
        search = results[seed]["routing (searched)"]["search_seconds"]
        mmoe = results[seed]["mmoe"]["wall_seconds"]
        print(f"  seed {seed}: search {search:.0f} s, MMoE {mmoe:.0f} s, ratio {search / mmoe:.2f}")


def correlation(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    archs = ["hard-sharing", "mmoe"]
    table: dict[float, dict[str, list[dict]]] = {}
    for p in args.correlations:
        table[p] = {}
        for seed in args.seeds:
            runs = args.runs / args.config.stem / f"p{p:g}-s{seed}"
            overrides = [
                *args.overrides,
                f"data.correlation={p}",
                f"data.seed={seed}",
                f"seed={seed}",
            ]
            for arch, record in run_all(args.config, overrides, runs, archs).items():
                table[p].setdefault(arch, []).append(record)
        print(f"p = {p:g} done", flush=True)
    tasks = list(table[args.correlations[0]]["mmoe"][0]["primary"])
    print("\n| p | model | " + " | ".join(f"{t} test MSE" for t in tasks) + " | route sharing |")
    print("|" + "---|" * (len(tasks) + 3))
    for p, by_arch in table.items():
        for arch in ["routing (searched)", *archs]:
            rows = by_arch[arch]
            cells = [mean_std([r["primary"][t] for r in rows]) for t in tasks]
            sharing = mean_std([r["sharing"] for r in rows], 2) if "sharing" in rows[0] else ""
            print(f"| {p:g} | {arch} | " + " | ".join(cells) + f" | {sharing} |")
    for p, by_arch in table.items():  # per seed the searched route and the baselines share data
        by_seed = {
            i: {arch: rows[i] for arch, rows in by_arch.items()} for i in range(len(args.seeds))
        }
        print(f"\n### p = {p:g}: paired over seeds\n")
        print(paired_report(by_seed, ["routing (searched)"]))
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    xs = list(table)
    means = [statistics.mean(r["sharing"] for r in table[p]["routing (searched)"]) for p in xs]
    points = [(p, r["sharing"]) for p in xs for r in table[p]["routing (searched)"]]
    ax.scatter([p for p, _ in points], [s for _, s in points], alpha=0.4, label="seeds")
    ax.plot(xs, means, marker="o", label="mean")
    ax.set_xlabel("task correlation p")
    ax.set_ylabel("route sharing (Jaccard of sub-networks)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend()
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
        "--random", type=int, default=5, help="quality: random architectures per seed (0: none)."
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    args.runs.mkdir(parents=True, exist_ok=True)
    quality(args) if args.mode == "quality" else correlation(args)


if __name__ == "__main__":
    main()
