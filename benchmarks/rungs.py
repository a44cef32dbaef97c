"""Benchmark: are successive halving's rungs long enough to rank, and do inherited weights rank
(issue 33)?

For a config's task set and each space in ``--spaces``: ``--points`` random points of the space
within ``--budget`` (FLOPs per example or a baseline's name), and the hand-designed baselines
within it, each trained from scratch at every rung length (``--rungs``: fractions f of the
config's epochs, ⌈epochs·f⌉ epochs each, as ``sharenas auto`` trains a rung) with the same data
and seed; where the space has a supernet, the supernet trained once with the space's default
strategy for the full epochs, and every random point scored with its inherited weights. Every
score is validation Δ_MTL % against the full-budget single-task. Prints, per space, the Spearman
rank correlation with the full budget's ranking of each rung and of the inherited weights (mean
± std over seeds).

    python benchmarks/rungs.py configs/synthetic-groups-branching.yaml --budget mmoe \\
        --spaces routing,branching --points 8 --seeds 5,6,7 --jobs 2
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

from cells import run_cells
from sharenas.api import resolve_config
from sharenas.config import Config, apply_overrides, build_config
from sharenas.engine.evaluate import primary_metrics
from sharenas.runs.folder import searched_arch, with_arch
from sharenas.runs.oneshot import _search
from sharenas.runs.random_archs import random_genotypes
from sharenas.runs.training import load_data, task_handlers, train
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_plan import plan_auto, space_config

REFERENCE = "single-task"


def with_epochs(config: Config, epochs: int) -> Config:
    return build_config(apply_overrides(config.model_dump(mode="json"), [f"train.epochs={epochs}"]))


def validation(record: dict[str, Any], handlers: list[Any]) -> dict[str, float]:
    return primary_metrics(record["val"], handlers)


def run_cell(
    config_path: str, overrides: list[str], out: str, budget: str, spaces: list[str],
    points: int, rungs: list[float],
) -> dict[str, Any]:  # fmt: skip
    """One seed: {space: {"rung f": [Δ per point], "inherited": [...], "full": [...]}}."""
    config = resolve_config(config_path, overrides)
    data = load_data(config, None)
    handlers = task_handlers(data)
    directions = {h.name: h.higher_is_better for h in handlers}
    plan = plan_auto(config, data, budget)
    full = config.train.epochs
    folder = Path(out)
    single = validation(
        train(with_arch(config, REFERENCE), folder / REFERENCE, data=data, progress=False), handlers
    )
    found: dict[str, Any] = {}
    for space in spaces:
        searched = space_config(config, space, full, plan.budget)
        drawn = [f"search.random_architectures={points}"]
        raw = apply_overrides(searched.model_dump(mode="json"), drawn)
        genotypes = random_genotypes(build_config(raw), data)
        models = {f"random {k}": with_arch(config, space, searched_arch(searched, g, "random"))
                  for k, g in enumerate(genotypes)}  # fmt: skip
        models |= {b: with_arch(config, b) for b in plan.baselines if b != REFERENCE}
        scores: dict[str, dict[str, float]] = {}
        for f in rungs:
            epochs = max(1, math.ceil(full * f))
            for name, model in models.items():
                run = folder / space / f"rung-{f:g}" / name.replace(" ", "-")
                record = train(with_epochs(model, epochs), run, data=data, progress=False)
                scores.setdefault(f"rung {f:g}", {})[name] = delta_mtl(
                    validation(record, handlers), single, directions
                )
        if space != "partition":
            trainer, _, built, _ = _search(searched, folder / space / "supernet", data, False,
                                           None, False)  # fmt: skip
            scores["inherited"] = {}
            for k, genotype in enumerate(genotypes):
                derived = built.inherit(trainer.model, genotype).to(trainer.device)
                val = primary_metrics(trainer.evaluate(data.val, derived), handlers)
                scores["inherited"][f"random {k}"] = delta_mtl(val, single, directions)
        found[space] = scores
    return found


def spearman(a: dict[str, float], b: dict[str, float]) -> float:
    """Spearman's ρ: the Pearson correlation of the ranks (ties share their mean rank)."""
    names = sorted(set(a) & set(b))
    first = pd.Series([a[n] for n in names]).rank()
    return float(first.corr(pd.Series([b[n] for n in names]).rank()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--budget", default="mmoe")
    parser.add_argument("--spaces", default="routing,branching")
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--rungs", default="0.111,0.333,1")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--runs", default="runs/bench-rungs")
    args = parser.parse_args()
    rungs = [float(r) for r in args.rungs.split(",")]
    spaces = args.spaces.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    shared = (args.budget, spaces, args.points, rungs)
    cells = [
        (args.config, [*args.overrides, f"seed={s}"], f"{args.runs}/seed-{s}", *shared)
        for s in seeds
    ]
    outcomes = run_cells(run_cell, cells, args.jobs)
    top = f"rung {max(rungs):g}"
    print("| space | ranking | Spearman ρ with the full budget's (mean ± std) | per seed |")
    print("|---|---|---|---|")
    for space in spaces:
        for key in [*(f"rung {f:g}" for f in rungs if f"rung {f:g}" != top), "inherited"]:
            values = [
                spearman(cell[space][key], cell[space][top])
                for cell in outcomes
                if key in cell[space]
            ]
            if values and all(math.isnan(v) for v in values):  # e.g. branching: every tree
                print(f"| {space} | {key} | every point scores the same | – |")  # is the trunk
                continue
            if not values:
                continue
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            per_seed = " / ".join(f"{v:+.2f}" for v in values)
            mean = statistics.fmean(values)
            print(f"| {space} | {key} | {mean:+.2f} ± {spread:.2f} | {per_seed} |")


if __name__ == "__main__":
    main()
