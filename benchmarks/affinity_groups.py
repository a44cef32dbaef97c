"""Benchmark: does the affinity matrix find planted task groups, and what does it cost? (issue 32)

For every ``p_out`` and seed: a ``synthetic-groups`` set (groups 5 + 3 by default, p_in 0.9; the
data seed = the run seed), one hard-sharing training measuring affinity
(:func:`sharenas.workflows.affinity.measure_affinity`) and the same training without measuring.
Prints per ``p_out`` the adjusted Rand index of the groups read from the matrix against the
planted ones (mean ± std, how many seeds recover them exactly) and the cost ratio (seconds of the
measuring training / seconds of the plain one; both 1 torch thread, one after the other).

    python benchmarks/affinity_groups.py --p-out 0.5,0,-0.5 --seeds 0,1,2,3,4
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from sharenas.affinity import adjusted_rand_index
from sharenas.config import build_config
from sharenas.data.synthetic_groups import group_of
from sharenas.runs.training import train
from sharenas.workflows.affinity import affinity_config, measure_affinity


def config_for(p_out: float, seed: int, groups: list[int], epochs: int):  # type: ignore[no-untyped-def]
    return build_config(
        {
            "data": {
                "name": "synthetic-groups",
                "groups": groups,
                "p_in": 0.9,
                "p_out": p_out,
                "dim": 20,
                "train_size": 5000,
                "val_size": 500,
                "test_size": 500,
                "seed": seed,
            },
            "model": {"backbone": {"name": "mlp", "widths": [32, 32]}},
            "train": {"epochs": epochs, "batch_size": 64, "threads": 1},
            "seed": seed,
        }
    )


def one_cell(
    p_out: float, seed: int, groups: list[int], epochs: int, every: int | None, work: Path
) -> dict:
    config = config_for(p_out, seed, groups, epochs)
    began = time.perf_counter()
    record = measure_affinity(config, work / f"aff-{p_out}-{seed}", progress=False, every=every)
    measured = time.perf_counter() - began
    began = time.perf_counter()
    train(affinity_config(config), work / f"plain-{p_out}-{seed}", progress=False)
    plain = time.perf_counter() - began
    return {
        "p_out": p_out,
        "seed": seed,
        "groups": record["groups"],
        "ari": adjusted_rand_index(record["groups"], group_of(groups)),
        "cost_ratio": measured / plain,
        "measurements": record["measurements"],
        "every": record["every"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p-out", default="0.5,0,-0.5")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--groups", default="5,3")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--every", type=int, default=None, help="default: the command's")
    parser.add_argument("--out", type=Path, default=Path("affinity_groups.jsonl"))
    args = parser.parse_args()
    groups = [int(g) for g in args.groups.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for p_out in (float(p) for p in args.p_out.split(",")):
            for seed in (int(s) for s in args.seeds.split(",")):
                row = one_cell(p_out, seed, groups, args.epochs, args.every, Path(work))
                rows.append(row)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    print(f"\n| p_out | ARI mean ± std | exact | cost ratio mean ± std | (groups {groups}) |")
    print("|---|---|---|---|---|")
    for p_out in sorted({r["p_out"] for r in rows}, reverse=True):
        cell = [r for r in rows if r["p_out"] == p_out]
        ari = [r["ari"] for r in cell]
        cost = [r["cost_ratio"] for r in cell]
        spread = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0  # noqa: E731
        print(
            f"| {p_out:+.1f} | {statistics.fmean(ari):.2f} ± {spread(ari):.2f} | "
            f"{sum(a == 1.0 for a in ari)}/{len(ari)} | "
            f"{statistics.fmean(cost):.2f} ± {spread(cost):.2f} | |"
        )


if __name__ == "__main__":
    main()
