"""Benchmark: the partition search (issue 6), measured in one run per mode.

``fidelity CONFIG --partitions 20``: random partitions of the config's space, each scored by
the distillation proxy and by full training. Prints Spearman's rank correlation between the two
(per task, and of the mean task score relative to single-task), the same with total FLOPs held
fixed (partial correlation: what the proxy knows beyond the partition's size) and the cost ratio
full ÷ proxy (the teachers, trained once, reported separately).

``front CONFIG``: runs the config's search and says, for share-all and for independent, whether
a found partition costs no more FLOPs with at least their mean score.

    python benchmarks/partition.py fidelity configs/multimnist-partition.yaml --partitions 20
    python benchmarks/partition.py front configs/digit-domains-partition.yaml
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from sharenas.config import load_config
from sharenas.data import create_dataset
from sharenas.report.partition import pareto_plot, partition_heatmaps
from sharenas.runs.partition import run_partition_search
from sharenas.runs.partition_eval import create_evaluator, load_teachers, teacher_folder
from sharenas.runs.training import task_handlers
from sharenas.spaces.partition import partition_space


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
    generator = torch.Generator().manual_seed(args.seed)
    rows = []
    folder = args.runs / args.config.stem
    shutil.rmtree(folder, ignore_errors=True)
    for i in range(args.partitions):
        vector = torch.rand(space.vector_size, generator=generator).tolist()
        genotype = space.genotype_from_vector(vector)
        quick = proxy.evaluate(genotype, folder / f"p{i}" / "distill")
        slow = full.evaluate(genotype, folder / f"p{i}" / "full")
        row = {
            "partition": i,
            "proxy_s": quick.seconds,
            "full_s": slow.seconds,
            "flops": quick.total_flops,
        }
        for h in handlers:
            sign = 1.0 if h.higher_is_better else -1.0
            row[f"proxy_{h.name}"] = quick.primary[h.name]
            row[f"full_{h.name}"] = slow.primary[h.name]
            row[f"proxy_rel_{h.name}"] = sign * (quick.primary[h.name] / single[h.name] - 1)
            row[f"full_rel_{h.name}"] = sign * (slow.primary[h.name] / single[h.name] - 1)
        rows.append(row)
        print(
            f"partition {i}: proxy {quick.primary} ({quick.seconds:.1f} s), "
            f"full {slow.primary} ({slow.seconds:.1f} s)",
            flush=True,
        )
    table = pd.DataFrame(rows)
    table.to_csv(folder / "fidelity.csv", index=False)
    tasks = [h.name for h in handlers]
    table["proxy_mean"] = table[[f"proxy_rel_{t}" for t in tasks]].mean(axis=1)
    table["full_mean"] = table[[f"full_rel_{t}" for t in tasks]].mean(axis=1)
    print("\n| scores compared | Spearman ρ |")
    print("|---|---|")
    for t in tasks:
        rho = spearman(table[f"proxy_{t}"], table[f"full_{t}"])
        print(f"| {t} | {rho:.3f} |")
    rho = spearman(table["proxy_mean"], table["full_mean"])
    print(f"| mean over tasks (relative to single-task) | {rho:.3f} |")
    flops_rho = spearman(table["flops"], table["full_mean"])
    print(f"| total FLOPs alone against the full mean | {flops_rho:.3f} |")
    print("\nwhat the proxy adds beyond FLOPs: Spearman partial correlation with FLOPs held fixed")
    print("\n| scores compared | partial ρ | 95 % CI |")
    print("|---|---|---|")
    pairs = [(t, f"proxy_{t}", f"full_{t}") for t in tasks]
    pairs.append(("mean over tasks", "proxy_mean", "full_mean"))
    for label, proxy_key, full_key in pairs:
        partial, low, high = partial_spearman(table[proxy_key], table[full_key], table["flops"])
        print(f"| {label} | {partial:.3f} | [{low:.2f}, {high:.2f}] |")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["fidelity", "front"])
    parser.add_argument("config", type=Path)
    parser.add_argument("--partitions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=Path, default=Path("runs/bench-partition"))
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    fidelity(args) if args.mode == "fidelity" else front(args)


if __name__ == "__main__":
    main()
