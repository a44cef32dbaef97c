"""Benchmark: the fusion search (issue 4), all measured in one run.

1. quality: the searched (derived, not retrained) model against single-task, hard-sharing,
   cross-stitch and NDDR trained for the same epochs, per seed; per-task primary metrics and
   Δ_MTL (mean ± std over seeds);
2. the paper's ablation: search-evaluation gap (derived − supernet, per task) with λ = 10 and
   λ = 0, and the final gate values of both (histogram data);
3. cost: search wall time ÷ the NDDR model's training time for the same epochs;
4. paired comparison (per seed, same data and budget): the searched model − the best baseline
   and − ``--random K`` architectures drawn uniformly from the space (their mean, and the one
   best on validation), with 95 % t intervals and the verdict beats / tie / below.
5. with ``--retrain``: the single-shot model paired against its genotype retrained from scratch;
6. separation: the best baseline paired against every other (does the budget tell them apart?).

    python benchmarks/fusion.py configs/multimnist-fusion.yaml --seeds 0,1,2 --random 5

The budget that tells baselines apart on 2 cores (BENCHMARKS.md, issue 13 part 5; 48 min):

    python benchmarks/fusion.py configs/multimnist-fusion.yaml --seeds 0,1,2 --random 5 \
        --retrain --set data.limit=20000 --set train.epochs=3 --set train.batch_size=64 \
        --set "model.backbone.channels=[8,16,32]" --set search.gradient.arch_lr=0.01
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.report.paired import mean_std, paired_table
from sharenas.report.seed_table import (
    baseline_separation,
    paired_report,
    seed_metric_values,
)
from sharenas.runs.folder import with_arch
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.random_archs import train_random
from sharenas.runs.records import read_metrics
from sharenas.runs.training import train
from sharenas.tasks import delta_mtl

BASELINES = ("single-task", "hard-sharing", "cross-stitch", "nddr")


def plot_gates(folder: Path, path: Path) -> Path:
    """Histogram of the final gate probabilities of every ``fusion-lambda*`` search in
    ``folder``, one panel per λ."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gates: dict[str, list[float]] = {}
    for arch in sorted(folder.glob("fusion-lambda*-s*/arch.json")):
        weight = arch.parent.name.split("-")[1].removeprefix("lambda")
        candidates = json.loads(arch.read_text())["candidates"]
        gates.setdefault(weight, []).extend(c["probability"] for c in candidates)
    fig, axes = plt.subplots(1, len(gates), figsize=(4 * len(gates), 3), squeeze=False)
    for ax, (weight, values) in zip(axes[0], sorted(gates.items(), reverse=True), strict=True):
        ax.hist(values, bins=20, range=(0, 1), color="#4c72b0")
        ax.set_title(f"λ = {weight}: final gates ({len(values)} edges, all seeds)", fontsize=9)
        ax.set_xlabel("σ(α)")
        ax.set_ylabel("edges")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def random_references(
    config_path: Path, overrides: list[str], seed: int, count: int, folder: Path, data
) -> list[dict]:
    """``count`` random architectures of the space trained with the baselines' budget."""
    config = load_config(
        config_path,
        [*overrides, f"seed={seed}", f"search.random_architectures={count}"],
    )
    shutil.rmtree(folder, ignore_errors=True)
    return [read_metrics(run) for run in train_random(config, folder, data, progress=False)]


def run_or_read(folder: Path, reuse: bool, make: Callable[..., dict], *args, **kwargs) -> dict:
    """The record of ``folder``'s run: read from its metrics.json with ``reuse`` (``--from-runs``),
    else ``make(*args, **kwargs)`` in an emptied folder."""
    if reuse:
        return read_metrics(folder)
    shutil.rmtree(folder, ignore_errors=True)
    return make(*args, **kwargs)


def search_record(config, folder: Path, data) -> dict:  # type: ignore[no-untyped-def]
    """A search's metrics record (its run folder is ``folder``)."""
    return run_oneshot_search(config, folder, data=data, progress=False)[0]


def single_shot_gap(by_seed: dict[int, dict[str, dict]]) -> str:
    """Markdown: the single-shot model (supernet weights, no retraining) paired against its
    genotype retrained from scratch, per metric (MTL-NAS's claim: no retraining needed)."""
    values, higher = seed_metric_values(by_seed)
    models = ("fusion (searched)", "fusion (retrained)")
    pair = {m: values[m] for m in models}
    return paired_table(pair, models[0], higher, [models[1]], label="single-shot")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-fusion"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--figure", type=Path, default=None, help="Gate histogram PNG.")
    parser.add_argument(
        "--retrain", action="store_true", help="Also retrain the λ = 10 genotype from scratch."
    )
    parser.add_argument(
        "--plot-only", action="store_true", help="Only redraw the histogram from --runs."
    )
    parser.add_argument(
        "--random", type=int, default=5, help="Random architectures per seed (0: none)."
    )
    parser.add_argument(
        "--from-runs",
        action="store_true",
        help="Train nothing: print the tables from the finished run folders under --runs (e.g. "
        "seeds measured by separate invocations).",
    )
    args = parser.parse_args()
    figure = args.figure or args.runs / f"{args.config.stem}-gates.png"
    if args.plot_only:
        print(plot_gates(args.runs / args.config.stem, figure))
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    base = load_config(args.config, args.overrides)
    data = None if args.from_runs else create_dataset(base.data).load()
    results: dict[tuple[str, int], dict] = {}
    ablation: dict[float, list[dict]] = {10.0: [], 0.0: []}
    randoms: dict[int, list[dict]] = {}
    for seed in seeds:
        config = load_config(args.config, [*args.overrides, f"seed={seed}"])
        for arch in BASELINES:
            folder = args.runs / args.config.stem / f"{arch}-s{seed}"
            results[(arch, seed)] = run_or_read(
                folder,
                args.from_runs,
                train,
                with_arch(config, arch),
                folder,
                data=data,
                progress=False,
            )
        for weight in ablation:
            folder = args.runs / args.config.stem / f"fusion-lambda{weight:g}-s{seed}"
            retrain = args.retrain and weight == 10.0
            derive = "retrain" if retrain else "none"
            variant = load_config(
                args.config,
                [
                    *args.overrides,
                    f"seed={seed}",
                    f"search.gradient.entropy_weight={weight}",
                    f"search.derive={derive}",
                ],
            )
            record = run_or_read(folder, args.from_runs, search_record, variant, folder, data)
            # the single-shot model: the derived network with the supernet's weights
            record = {
                **record,
                "tasks": record["inherited_tasks"],
                "primary": record["inherited_primary"],
            }
            ablation[weight].append(record)
            arch = json.loads((folder / "arch.json").read_text())
            record["final_gates"] = [c["probability"] for c in arch["candidates"]]
            if weight == 10.0:
                results[("fusion (searched)", seed)] = record
            if retrain:
                results[("fusion (retrained)", seed)] = {**record, **record["retrained"]}
        if args.random:
            folder = args.runs / args.config.stem / f"random-s{seed}"
            randoms[seed] = (
                [read_metrics(folder / str(k)) for k in range(args.random)]
                if args.from_runs
                else random_references(args.config, args.overrides, seed, args.random, folder, data)
            )
        print(f"seed {seed} done", flush=True)

    first = results[("single-task", seeds[0])]
    tasks = list(first["primary"])
    print("\n## quality (test, best-validation checkpoint; searched = derived, no retraining)\n")
    print(
        "| model | "
        + " | ".join(f"{t} {first['primary_metric'][t]}" for t in tasks)
        + " | Δ_MTL % | MFLOPs/example |"
    )
    print("|" + "---|" * (len(tasks) + 3))
    searched = ["fusion (searched)"] + (["fusion (retrained)"] if args.retrain else [])
    for arch in (*searched, *BASELINES):
        runs = [results[(arch, s)] for s in seeds]
        deltas = [
            delta_mtl(
                r["primary"], results[("single-task", r["seed"])]["primary"], r["higher_is_better"]
            )
            for r in runs
        ]
        cells = [mean_std([r["primary"][t] for r in runs]) for t in tasks]
        print(
            f"| {arch} | " + " | ".join(cells) + f" | {mean_std(deltas)} | "
            f"{runs[0]['flops_per_example'] / 1e6:.3g} |"
        )

    by_seed = {s: {arch: results[(arch, s)] for arch in (*searched, *BASELINES)} for s in seeds}
    print("\n" + paired_report(by_seed, searched, randoms))
    if args.retrain and len(seeds) > 1:
        print("\n## single-shot against its genotype retrained (paired)\n")
        print(single_shot_gap(by_seed))
    if len(seeds) > 1:
        print("\n## separation: the best baseline against every other (paired)\n")
        print(baseline_separation({s: {a: results[(a, s)] for a in BASELINES} for s in seeds}))

    print("\n## ablation: search-evaluation gap (derived − supernet), mean over seeds\n")
    print("| λ | " + " | ".join(tasks) + " | edges kept | gates within 0.05 of 0 or 1 |")
    print("|" + "---|" * (len(tasks) + 3))
    for weight, records in ablation.items():
        gaps = [mean_std([r["search_evaluation_gap"][t] for r in records]) for t in tasks]
        gates = [g for r in records for g in r["final_gates"]]
        decided = sum(g < 0.05 or g > 0.95 for g in gates) / max(1, len(gates))
        kept = statistics.mean(r["edges_kept"] for r in records)
        print(
            f"| {weight:g} | " + " | ".join(gaps) + f" | {kept:.1f} of "
            f"{records[0]['candidate_edges']} | {decided:.0%} |"
        )
    for weight, records in ablation.items():
        gates = sorted(round(g, 3) for r in records for g in r["final_gates"])
        print(f"final gates, λ = {weight:g}: {gates}")

    print(f"\ngate histogram: {plot_gates(args.runs / args.config.stem, figure)}")
    print("\n## cost\n")
    for seed in seeds:
        search_s = results[("fusion (searched)", seed)]["search_seconds"]
        nddr_s = results[("nddr", seed)]["wall_seconds"]
        print(
            f"seed {seed}: search {search_s:.0f} s, NDDR training {nddr_s:.0f} s, "
            f"ratio {search_s / nddr_s:.2f}"
        )


if __name__ == "__main__":
    main()
