"""Successive halving among the hand-designed models of ``sharenas auto``'s room path.

The baselines within the budget other than hard-sharing and single-task are trained for
⌈epochs/η⌉ epochs and paused (rung 0); the models already trained for the full budget, the
hard-sharing network of the measuring training and the affinity tree, are read at the same
epoch from their histories. Only the best ⌈n/η⌉ of these n by validation Δ_MTL at that epoch
continue to the full budget (Jamieson & Talwalkar, AISTATS 2016), resumed from their
checkpoints, so a continued baseline costs what it would have cost anyway and a stopped one
a third of it (η = 3). The rung's rank correlation with the full budget is measured in
BENCHMARKS.md ("rungs").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sharenas.engine.evaluate import primary_metrics
from sharenas.run_files import HISTORY, read_lines
from sharenas.runs.training import task_handlers
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_adopt import measuring_training
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.auto_work import BRANCHING, HARD_SHARING, AutoContext, rung_epochs

TREE = "the affinity tree"


def rung_row(folder: Path, epochs: int) -> dict[str, Any] | None:
    """The history row of ``folder``'s run after ``epochs`` epochs (its last one where it
    stopped earlier); None without a history."""
    path = folder / HISTORY
    if not path.is_file():
        return None
    rows = read_lines(path)
    at = [r for r in rows if r.get("epoch") == epochs - 1]
    return at[0] if at else (rows[-1] if rows else None)


def _competitors(state: Any, ctx: AutoContext, paused: list[Unit]) -> dict[str, Path]:
    """The models of the race and the run folders holding their histories."""
    units = state.data["units"]
    found = {u.name: Path(units[u.key]["folder"]) for u in paused if units[u.key].get("folder")}
    found[HARD_SHARING] = measuring_training(ctx.out)
    branching = units.get(BRANCHING.key, {}).get("folder")
    if branching and (Path(branching) / "retrain").is_dir():  # a branched tree was retrained
        found[TREE] = Path(branching) / "retrain"
    return found


def race(
    state: Any, ctx: AutoContext, paused: list[Unit], reference: dict[str, float]
) -> list[str]:
    """The paused baselines that continue to the full budget (decided once, then read back
    from ``auto.json`` under ``race``); ``reference``: the validation primary metrics every
    Δ_MTL is measured against."""
    if "race" in state.data:
        return list(state.data["race"]["continued"])
    epochs = rung_epochs(ctx.config.train.epochs, ctx.eta)
    handlers = task_handlers(ctx.data)
    directions = {h.name: h.higher_is_better for h in handlers}
    scores = {}
    for name, folder in _competitors(state, ctx, paused).items():
        row = rung_row(folder, epochs)
        if row is not None and row.get("val"):
            val = primary_metrics(row["val"], handlers)
            scores[name] = delta_mtl(val, reference, directions)
    ranked = sorted(scores, key=lambda n: -scores[n])
    kept = ranked[: math.ceil(len(ranked) / ctx.eta)]
    names = [u.name for u in paused]
    continued = [n for n in names if n in kept or n not in scores]  # unscored: not dropped
    state.data["race"] = {
        "epochs": epochs,
        "eta": ctx.eta,
        "scores": {n: round(scores[n], 4) for n in ranked},
        "kept": kept,
        "continued": continued,
        "stopped": [n for n in names if n not in continued],
    }
    state.save()
    return continued
