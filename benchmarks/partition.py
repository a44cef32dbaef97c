"""Benchmark: the partition search (issue 6), measured in one run per mode.

``fidelity CONFIG --partitions 20``: random partitions of the config's space, each scored by
the distillation proxy and by full training. Prints Spearman's rank correlation between the two
(per task, and of the mean task score relative to single-task), the same with total FLOPs held
fixed (partial correlation: what the proxy knows beyond the partition's size) and the cost ratio
full ÷ proxy (the teachers, trained once, reported separately).

``front CONFIG``: runs the config's search and says, for share-all and for independent, whether
a found partition costs no more FLOPs with at least their mean score.

``compare CONFIG --seeds 0,1,2``: per seed, each search variant's delivered model (the chosen
point trained with the budget, test metrics, the pruned network's FLOPs) against share-all,
independent and ``--random K`` random partitions trained with the same budget, and the
single-task teachers: mean ± std, Δ_MTL, and the paired intervals over seeds. A seed whose runs
all finished is read from its folders, so more seeds can be added later.

    python benchmarks/partition.py fidelity configs/multimnist-partition.yaml --partitions 20
    python benchmarks/partition.py front configs/digit-domains-partition.yaml
    python benchmarks/partition.py compare configs/multimnist-partition.yaml --seeds 0,1,2 \\
        --variant "partition (searched)" \\
        --variant "gradient masks=search.partition.gradient_masks=true"
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from cells import parse_variant, run_cells
from sharenas.config import Config, load_config
from sharenas.data import create_dataset
from sharenas.report.partition import pareto_plot, partition_heatmaps
from sharenas.report.seed_table import paired_report, summary_table
from sharenas.runs.folder import with_arch
from sharenas.runs.partition import run_partition_search
from sharenas.runs.partition_eval import create_evaluator, load_teachers, teacher_folder
from sharenas.runs.random_archs import train_random
from sharenas.runs.records import read_metrics
from sharenas.runs.training import task_handlers, train
from sharenas.spaces.partition import partition_space
from sharenas.workflows.partition_session import partition_session


def spearman(a: pd.Series, b: pd.Series) -> float:
    """Spearman's ρ: Pearson's correlation of the ranks (ties get their mean rank)."""
    return float(a.rank().corr(b.rank()))


def partial_spearman(a: pd.Series, b: pd.Series, control: pd.Series) -> tuple[float, float, float]:
    """Spearman's partial correlation of a and b with ``control`` held fixed (the Pearson
    partial correlation of the ranks) and its 95 % interval (Fisher z, n − 4 degrees)."""
    r_ab, r_ac, r_bc = spearman(a, b), spearman(a, control), spearman(b, control)
    partial = (r_ab - r_ac * r_bc) / math.sqrt((1 - r_ac**2) * (1 - r_bc**2))
    half = 1.96 / math.sqrt(max(1, len(a) - 4))
    z = math.atanh(max(-0.999999, min(0.999999, partial)))
    return partial, math.tanh(z - half), math.tanh(z + half)


def fidelity(args: argparse.Namespace) -> None:
    config = load_config(args.config, args.overrides)
    assert config.search is not None
    data = create_dataset(config.data).load()
    handlers = task_handlers(data)
    space = partition_space(handlers, data.input_spec, config.model, config.search.partition)
    began = time.perf_counter()
    load_teachers(config, data)
    teacher_seconds = time.perf_counter() - began
    teacher = json.loads((teacher_folder(config) / "metrics.json").read_text())
    single = {h.name: teacher["val"][h.name][h.primary] for h in handlers}
    settings = config.search.evaluation
    proxy = create_evaluator(
        config, data, space, settings.model_copy(update={"evaluator": "distill"})
    )
    full = create_evaluator(config, data, space, settings.model_copy(update={"evaluator": "full"}))
    short = {
        f"short{e}": create_evaluator(
            config, data, space, settings.model_copy(update={"evaluator": "full", "epochs": e})
        )
        for e in args.short_epochs
    }
    generator = torch.Generator().manual_seed(args.seed)
    rows = []
    folder = args.runs / args.config.stem
    shutil.rmtree(folder, ignore_errors=True)
    named = {"share-all": space.share_all(), "independent": space.independent()}
    vectors = [torch.rand(space.vector_size, generator=generator) for _ in range(args.partitions)]
    drawn = {str(i): space.genotype_from_vector(v.tolist()) for i, v in enumerate(vectors)}
    for name, genotype in ({**named, **drawn} if args.references else drawn).items():
        quick = proxy.evaluate(genotype, folder / f"p{name}" / "distill")
        slow = full.evaluate(genotype, folder / f"p{name}" / "full")
        scored = {"proxy": quick, "full": slow}
        scored |= {k: e.evaluate(genotype, folder / f"p{name}" / k) for k, e in short.items()}
        row = {"partition": name, "flops": quick.total_flops}
        for key, outcome in scored.items():
            row[f"{key}_s"] = outcome.seconds
            for h in handlers:
                sign = 1.0 if h.higher_is_better else -1.0
                row[f"{key}_{h.name}"] = outcome.primary[h.name]
                row[f"{key}_rel_{h.name}"] = sign * (outcome.primary[h.name] / single[h.name] - 1)
        for h in handlers:
            row[f"flops_{h.name}"] = quick.per_task_flops[h.name]
        rows.append(row)
        print(
            f"partition {name}: "
            + ", ".join(f"{k} {o.primary} ({o.seconds:.1f} s)" for k, o in scored.items()),
            flush=True,
        )
    table = pd.DataFrame(rows)
    table.to_csv(folder / "fidelity.csv", index=False)
    tasks = [h.name for h in handlers]
    for key in ["proxy", "full", *short]:
        table[f"{key}_mean"] = table[[f"{key}_rel_{t}" for t in tasks]].mean(axis=1)
    print("\n| scores compared | Spearman ρ |")
    print("|---|---|")
    for t in tasks:
        rho = spearman(table[f"proxy_{t}"], table[f"full_{t}"])
        print(f"| {t} | {rho:.3f} |")
    rho = spearman(table["proxy_mean"], table["full_mean"])
    print(f"| mean over tasks (relative to single-task) | {rho:.3f} |")
    for key in short:
        rho = spearman(table[f"{key}_mean"], table["full_mean"])
        print(f"| full training for {key[5:]} epochs: mean over tasks | {rho:.3f} |")
    best = table.loc[table["full_mean"].idxmax(), "partition"]
    for key in ["proxy", *short]:
        pick = table.loc[table[f"{key}_mean"].idxmax()]
        print(
            f"{key} picks partition {pick['partition']}: full-training mean "
            f"{pick['full_mean']:+.4f} (best {best}: {table['full_mean'].max():+.4f})"
        )
    flops_rho = spearman(table["flops"], table["full_mean"])
    print(f"| total FLOPs alone against the full mean | {flops_rho:.3f} |")
    print("\nwhat the proxy adds beyond FLOPs: Spearman partial correlation with FLOPs held fixed")
    print("\n| scores compared | FLOPs held fixed | ρ(FLOPs, full) | partial ρ | 95 % CI |")
    print("|---|---|---|---|---|")
    pairs = [
        (t, f"proxy_{t}", f"full_{t}", control)
        for t in tasks
        for control in ("flops", f"flops_{t}")
    ]
    pairs.append(("mean over tasks", "proxy_mean", "full_mean", "flops"))
    for label, proxy_key, full_key, control in pairs:
        partial, low, high = partial_spearman(table[proxy_key], table[full_key], table[control])
        held = "total" if control == "flops" else "the task's own"
        rho = spearman(table[control], table[full_key])
        print(f"| {label} | {held} | {rho:.3f} | {partial:.3f} | [{low:.2f}, {high:.2f}] |")
    proxy_s, full_s = table["proxy_s"].mean(), table["full_s"].mean()
    print(
        f"\ncost: full {full_s:.1f} s ÷ proxy {proxy_s:.1f} s per partition = "
        f"{full_s / proxy_s:.1f}"
    )
    amortised = proxy_s + teacher_seconds / args.partitions
    print(
        f"with the teachers ({teacher_seconds:.0f} s, trained once) spread over "
        f"{args.partitions} partitions: {full_s / amortised:.1f}"
    )


def front(args: argparse.Namespace) -> None:
    config = load_config(args.config, args.overrides)
    folder = args.runs / args.config.stem / "search"
    shutil.rmtree(folder, ignore_errors=True)
    record = run_partition_search(config, folder)
    tasks = list(record["higher_is_better"])

    def mean_score(point: dict) -> float:
        signs = [1.0 if record["higher_is_better"][t] else -1.0 for t in tasks]
        return statistics.mean(s * point["primary"][t] for s, t in zip(signs, tasks, strict=True))

    print(f"\n{record['trials']} partitions, {record['search_seconds']:.0f} s\n")
    print("| point | " + " | ".join(tasks) + " | mean | MFLOPs |")
    print("|" + "---|" * (len(tasks) + 3))
    for point in sorted(record["front"], key=lambda p: p["total_flops"]):
        label = f"trial {point['number']}" + (f" ({point['label']})" if point["label"] else "")
        cells = " | ".join(f"{point['primary'][t]:.4f}" for t in tasks)
        print(f"| {label} | {cells} | {mean_score(point):.4f} | {point['total_flops'] / 1e6:.3g} |")
    for label, point in record["references"].items():
        cells = " | ".join(f"{point['primary'][t]:.4f}" for t in tasks)
        print(
            f"| reference: {label} | {cells} | {mean_score(point):.4f} | "
            f"{point['total_flops'] / 1e6:.3g} |"
        )
    print()
    evaluated = [p for p in record["front"] if not p["label"]]
    for label in ("share-all", "independent"):
        reference = record["references"][label]
        better = [
            p
            for p in evaluated
            if p["total_flops"] <= reference["total_flops"]
            and mean_score(p) >= mean_score(reference)
        ]
        if better:
            best = max(better, key=mean_score)
            print(
                f"{label}: trial {best['number']} costs {best['total_flops'] / 1e6:.3g} ≤ "
                f"{reference['total_flops'] / 1e6:.3g} MFLOPs with mean score "
                f"{mean_score(best):.4f} ≥ {mean_score(reference):.4f}"
            )
        else:
            print(
                f"{label}: no found partition costs no more with at least its mean score "
                f"({mean_score(reference):.4f} at {reference['total_flops'] / 1e6:.3g} MFLOPs)"
            )
    trials = json.loads((folder / "trials.json").read_text())
    figures = Path("benchmarks/figures")
    figures.mkdir(parents=True, exist_ok=True)
    plot = pareto_plot(record, trials, figures / f"partition-front-{args.config.stem}.png")
    heat = partition_heatmaps(record, figures / f"partition-matrices-{args.config.stem}.png")
    print(f"\nfront plot: {plot}; partition matrices: {heat}; records in {folder}")


def reference_arch(config: Config, genotype: Any) -> dict[str, Any]:
    """The arch.json of a hand-picked point of the partition space (share-all, independent)."""
    assert config.search is not None
    return {
        "format": "sharenas-arch/1",
        "kind": "genotype",
        "space": "partition",
        "space_config": config.search.partition.model_dump(mode="json"),
        **genotype.to_dict(),
    }


def compare_cell(config_path: Path, overrides: list[str], runs: Path, variants, random: int):  # type: ignore[no-untyped-def]
    """One seed: every search variant's delivered model, share-all and independent trained
    with the same budget, the single-task teachers (test) and ``random`` random partitions."""
    config = load_config(config_path, overrides)
    assert config.search is not None
    finished = finished_cell(config, runs, variants, random)
    if finished is not None:
        return finished
    data = create_dataset(config.data).load()
    shutil.rmtree(runs, ignore_errors=True)
    records: dict[str, dict[str, Any]] = {}
    for name, extra in variants:
        variant = load_config(config_path, [*overrides, *extra])
        result = partition_session(variant, runs / name.replace(" ", "_"), data, resume=False)
        assert result.run is not None, f"{name}: the search found no front"
        records[name] = {**result.run.metrics, "search_seconds": result.metrics["search_seconds"]}
    records["single-task"] = json.loads((teacher_folder(config) / "metrics.json").read_text())
    space = partition_space(
        task_handlers(data), data.input_spec, config.model, config.search.partition
    )
    for label, genotype in (("share-all", space.share_all()), ("independent", space.independent())):
        arch = reference_arch(config, genotype)
        records[label] = train(
            with_arch(config, "partition", arch), runs / label, data=data, progress=False
        )
    randoms = []
    if random:
        drawn = load_config(config_path, [*overrides, f"search.random_architectures={random}"])
        trained = train_random(drawn, runs / "random", data, progress=False)
        randoms = [read_metrics(run) for run in trained]
    return records, randoms


def finished_cell(config: Config, runs: Path, variants, random: int):  # type: ignore[no-untyped-def]
    """The records of a cell whose runs all finished (a benchmark extended by more seeds reads
    them instead of training again), else None."""

    def metrics(path: Path) -> dict[str, Any] | None:
        return json.loads(path.read_text()) if path.exists() else None

    records: dict[str, Any] = {}
    for name, _ in variants:
        folder = runs / name.replace(" ", "_") / "search"
        model, search = metrics(folder / "model" / "metrics.json"), metrics(folder / "metrics.json")
        if model is None or search is None:
            return None
        records[name] = {**model, "search_seconds": search["search_seconds"]}
    for label in ("share-all", "independent"):
        records[label] = metrics(runs / label / "metrics.json")
    records["single-task"] = metrics(teacher_folder(config) / "metrics.json")
    randoms = [metrics(runs / "random" / str(k) / "metrics.json") for k in range(random)]
    if any(r is None for r in [*records.values(), *randoms]):
        return None
    return records, randoms


def compare(args: argparse.Namespace) -> None:
    variants = args.variants or [("partition (searched)", [])]
    cells = [
        (
            args.config,
            [*args.overrides, f"seed={seed}"],
            args.runs / args.config.stem / f"compare-s{seed}",
            variants,
            args.random,
        )
        for seed in args.seeds
    ]
    outcomes = run_cells(compare_cell, cells, args.jobs)
    runs = {seed: out[0] for seed, out in zip(args.seeds, outcomes, strict=True)}
    randoms = {seed: out[1] for seed, out in zip(args.seeds, outcomes, strict=True)}
    names = [name for name, _ in variants]
    models = [*names, "share-all", "independent", "single-task"]
    rows_of = {m: [runs[s][m] for s in args.seeds] for m in models}
    if args.random:
        rows_of[f"random partitions ({args.random} per seed)"] = [
            r for s in args.seeds for r in randoms[s]
        ]
    single = {s: runs[s]["single-task"] for s in args.seeds}
    print("\n" + summary_table(rows_of, single))
    print("\n" + paired_report(runs, names, randoms if args.random else None))
    for name in names:
        chosen = [runs[s][name]["flops_per_example"] / 1e6 for s in args.seeds]
        share = [runs[s]["share-all"]["flops_per_example"] / 1e6 for s in args.seeds]
        print(
            f"\n{name}: MFLOPs per seed {chosen} (share-all {share}); search seconds "
            f"{[round(runs[s][name]['search_seconds']) for s in args.seeds]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["fidelity", "front", "compare"])
    parser.add_argument("config", type=Path)
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--short-epochs",
        default="",
        help="fidelity: also full training for these epochs",
        type=lambda s: [int(x) for x in s.split(",") if x],
    )
    parser.add_argument(
        "--references", action="store_true", help="fidelity: score share-all and independent too"
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-partition"))
    parser.add_argument("--seeds", default="0", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--random", type=int, default=3, help="compare: random partitions/seed")
    parser.add_argument("--jobs", type=int, default=1, help="compare: seeds at once, 1 thread")
    parser.add_argument(
        "--variant",
        dest="variants",
        action="append",
        type=parse_variant,
        help="compare: a search variant NAME=KEY=VALUE;KEY=VALUE (repeatable)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    {"fidelity": fidelity, "front": front, "compare": compare}[args.mode](args)


if __name__ == "__main__":
    main()
