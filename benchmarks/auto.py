"""Benchmark: ``sharenas auto`` (issue 20) on a task set at several budgets.

For every budget (a baseline's name or FLOPs per example) it runs ``sharenas.auto`` with the
seeds given (the choice made on the first, the contenders trained on the others) and prints one
row per role: the model, its test Δ_MTL per seed and mean ± std, the recommended model's paired
95 % interval against it, and the run's total cost as a multiple of one hard-sharing training
(measured in the same run). Every auto folder is kept, so a rerun resumes.

    python benchmarks/auto.py configs/census-income.yaml --budgets hard-sharing,single-task \\
        --seeds 0,1,2 --out runs/bench20-census --set data.limit=20000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import sharenas
from sharenas.report.paired import mean_std
from sharenas.workflows.auto_report import total_cost


def rows(label: str, result) -> list[str]:
    """Markdown rows of one auto run: a line per role over the seeds."""
    total, one, _ = total_cost(result.state)
    paired = result.over_seeds
    if paired is None:  # one seed: the recommended model's test Δ_MTL alone
        paired = {
            "seeds": [0],
            "models": {"recommended": result.recommended.name},
            "deltas": {"recommended": {0: result.recommended.test_delta}},
            "paired": {},
        }
    lines = []
    for role, name in paired["models"].items():
        values = [paired["deltas"][role][s] for s in paired["seeds"]]
        diff = paired["paired"].get(role)
        lines.append(
            f"| {label} | {role} | {name} | "
            + " / ".join(f"{v:+.2f}" for v in values)
            + f" | {mean_std(values, 3)} | "
            + (f"{diff.text(2)} {diff.verdict()}" if diff else "–")
            + " |"
        )
    lines.append(
        f"| {label} | cost | {len(result.candidates)} models evaluated | {total:.0f} s | "
        f"{total / one:.1f} × hard-sharing ({one:.1f} s) | – |"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--budgets", default="hard-sharing,single-task")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    print("| budget | role | model | test Δ_MTL % per seed | mean ± std | recommended − it |")
    print("|---|---|---|---|---|---|")
    for budget in args.budgets.split(","):
        result = sharenas.auto(
            args.config,
            Path(args.out) / budget,
            budget,
            overrides=[*args.overrides, f"train.threads={args.threads}"],
            seeds=seeds,
            progress=False,
        )
        label = f"{budget} ({result.plan.budget / 1e6:.3g} MFLOPs)"
        print("\n".join(rows(label, result)), flush=True)


if __name__ == "__main__":
    main()
