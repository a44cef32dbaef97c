"""Benchmark: ``sharenas auto`` (issue 20) on a task set at several budgets.

For every budget (a baseline's name or FLOPs per example) it runs ``sharenas.auto`` with the
seeds given (the choice made on the first, the contenders trained on the others) and prints one
row per role: the model, its test Δ_MTL per seed and mean ± std, the recommended model's paired
95 % interval against it, and the run's total cost as a multiple of one hard-sharing training
(measured in the same run). Every auto folder is kept, so a rerun resumes.

    python benchmarks/auto.py configs/census-income.yaml --budgets hard-sharing,single-task \\
        --seeds 0,1,2 --out runs/bench20-census --set data.limit=20000

``--per-seed`` (issue 33) runs ``auto`` once per seed instead (each its own decision) and trains,
with the same seed, data and epochs, every hand-designed baseline within the budget (reusing the
ones auto trained) and, on ``synthetic-groups``, the oracle (``task-groups`` with the planted
groups). Per seed: the decision, the recommended model, its test Δ_MTL and the whole command's
cost ÷ the seed's hard-sharing training (wall seconds of both, as auto times its units); over
seeds: the recommended model against the best baseline within the budget and the oracle (paired
95 % intervals) and the share of the oracle's gain over hard-sharing it recovers.

    python benchmarks/auto.py configs/synthetic-groups-branching.yaml --budgets mmoe \\
        --seeds 5,6,7 --per-seed --out runs/bench33-groups
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

import torch

import sharenas
from sharenas.api import resolve_config
from sharenas.report.paired import mean_std, paired_difference
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_report import total_cost

ORACLE = "oracle"


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


def references(result: Any, config: Any, out: Path) -> dict[str, dict[str, Any]]:
    """Metrics of every baseline within the budget (auto's own runs where it trained them; a
    hard-sharing taken from the measuring training is trained here, the unit of cost) and, on
    the planted set, the oracle: same seed, data and epochs."""
    from sharenas.runs.folder import with_arch
    from sharenas.runs.result import open_run
    from sharenas.runs.training import ensure_trained

    found = {}
    for arch in result.plan.baselines:
        own = result.folder / "baselines" / arch
        trained = (own / "metrics.json").exists() and "trained_by" not in open_run(own).metrics
        folder = own if trained else out / arch  # a run auto took from its measuring training
        ensure_trained(with_arch(config, arch), folder, progress=False)
        found[arch] = open_run(folder).metrics
    if config.data.name == "synthetic-groups":
        groups = [[f"g{g}t{k}" for k in range(n)] for g, n in enumerate(config.data.groups)]
        model = config.model.model_copy(update={"groups": groups})
        oracle = with_arch(config.model_copy(update={"model": model}), "task-groups")
        ensure_trained(oracle, out / ORACLE, progress=False)
        found[ORACLE] = open_run(out / ORACLE).metrics
    return found


def per_seed(args: argparse.Namespace, budget: str, seeds: list[int]) -> None:
    """One auto run per seed, each against the references trained with its seed."""
    rec, refs, costs = [], {}, []
    print(f"\n### budget {budget}\n")
    print("| seed | decision | recommended | test Δ_MTL % | cost × hard-sharing | units |")
    print("|---|---|---|---|---|---|")
    for seed in seeds:
        overrides = [*args.overrides, f"train.threads={args.threads}", f"seed={seed}"]
        config = resolve_config(args.config, overrides)
        out = Path(args.out) / budget / f"seed-{seed}"
        result = sharenas.auto(config, out / "auto", budget, progress=False)
        found = references(result, config, out / "references")
        single = found["single-task"]
        for name, metrics in found.items():
            value = delta_mtl(metrics["primary"], single["primary"], metrics["higher_is_better"])
            refs.setdefault(name, []).append(value)
        total, _, _ = total_cost(result.state)
        hard = found["hard-sharing"]  # wall seconds, as auto's units are timed
        costs.append(total / hard.get("wall_seconds", hard["train_seconds"]))
        chosen = result.recommended.metrics  # vs this seed's single-task (auto may not train it)
        rec.append(delta_mtl(chosen["primary"], single["primary"], chosen["higher_is_better"]))
        room = result.state.get("room", {})
        decision = "room" if room.get("room") else "no room" if room else "thorough"
        print(
            f"| {seed} | {decision} | {result.recommended.name} | {rec[-1]:+.2f} | "
            f"{costs[-1]:.2f} | {len(result.state['units'])} |",
            flush=True,
        )
    print(f"\nrecommended: {mean_std(rec, 2)}; cost median {statistics.median(costs):.2f}, "
          f"max {max(costs):.2f} × hard-sharing")  # fmt: skip
    baselines = [n for n in refs if n not in ("single-task", ORACLE)]
    best = max(baselines, key=lambda n: statistics.fmean(refs[n]))
    for name in dict.fromkeys([best, *baselines, *([ORACLE] if ORACLE in refs else [])]):
        diff = paired_difference(rec, refs[name])
        label = f"{name} (best baseline within the budget)" if name == best else name
        print(f"| recommended − {label} ({mean_std(refs[name], 2)}) | {diff.text(2)} | "
              f"{diff.verdict()} |")  # fmt: skip
    if ORACLE in refs:
        gain = statistics.fmean(rec) - statistics.fmean(refs["hard-sharing"])
        room = statistics.fmean(refs[ORACLE]) - statistics.fmean(refs["hard-sharing"])
        print(f"oracle's gain over hard-sharing recovered: {100 * gain / room:.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--budgets", default="hard-sharing,single-task")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", required=True)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-seed", action="store_true", help="one auto run per seed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.per_seed:
        for budget in args.budgets.split(","):
            per_seed(args, budget, seeds)
        return
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
