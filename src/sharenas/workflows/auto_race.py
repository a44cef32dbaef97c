"""Successive halving among the models of ``sharenas auto``'s room path.

The baselines within the budget other than hard-sharing and single-task are trained for
⌈epochs/η⌉ epochs and paused (rung 0), and the room's study (the partition search) evaluates
its partitions with short trainings of the same length without training its choice; the models
already trained for the full budget, the hard-sharing network of the measuring training and the
affinity tree, are read at the same epoch from their histories. Only the best ⌈m/η⌉ of the m
paused ones by validation Δ_MTL at that epoch (Jamieson & Talwalkar, AISTATS 2016), and of
those only the ones ahead of those two models already trained for the full budget, continue to
the full budget: a baseline resumed from its checkpoint, the study's choice trained, so a continued
model costs what it would have cost anyway and a stopped one a third of it (η = 3). The rung's
rank correlation with the full budget (ρ 0.85–0.92 at a third of the epochs) is measured in
BENCHMARKS.md ("Rungs").
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sharenas.engine.evaluate import primary_metrics
from sharenas.run_files import HISTORY, METRICS, read_lines, read_record
from sharenas.runs.training import task_handlers
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_adopt import measuring_training
from sharenas.workflows.auto_plan import HARD_SHARING
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.auto_work import BRANCHING, AutoContext, rung_epochs

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


def study_choice(folder: Path) -> dict[str, Any] | None:
    """The history-like row of a study's chosen point (its validation metrics after its short
    training, :mod:`sharenas.runs.partition`); None when it chose nothing."""
    path = folder / METRICS
    record = read_record(path) if path.is_file() else {}
    chosen = [p for p in record.get("front", []) if p["number"] == record.get("chosen")]
    return {"primary": chosen[0]["primary"]} if chosen else None


def _competitors(state: Any, ctx: AutoContext, paused: list[Unit]) -> dict[str, Path]:
    """The models of the race and the run folders holding their histories (a study: its
    folder)."""
    units = state.data["units"]
    found = {u.name: Path(units[u.key]["folder"]) for u in paused if units[u.key].get("folder")}
    found[HARD_SHARING] = measuring_training(ctx.out)
    branching = units.get(BRANCHING.key, {}).get("folder")
    if branching and (Path(branching) / "retrain").is_dir():  # a branched tree was retrained
        found[TREE] = Path(branching) / "retrain"
    return found


def _rung_primary(
    folder: Path, epochs: int, handlers: list[Any], study: bool
) -> dict[str, float] | None:
    """The validation primary metrics of a competitor at the rung."""
    if study:
        choice = study_choice(folder)
        return choice["primary"] if choice else None
    row = rung_row(folder, epochs)
    return primary_metrics(row["val"], handlers) if row and row.get("val") else None


def race(
    state: Any, ctx: AutoContext, paused: list[Unit], reference: dict[str, float]
) -> list[Unit]:
    """The paused units that continue to the full budget, as the units that continue them (a
    baseline trained on, a study's choice trained: ``rung 1 <space>``); decided once, then
    read back from ``auto.json`` under ``race``. ``reference``: the validation primary
    metrics every Δ_MTL is measured against."""
    if "race" not in state.data:
        state.data["race"] = _decide(state, ctx, paused, reference)
        state.save()
    going = set(state.data["race"]["continued"])
    return [_continued(u) for u in paused if u.name in going]


def _finished(state: Any, unit: Unit) -> bool:
    folder = state.data["units"].get(unit.key, {}).get("folder")
    return bool(folder) and (Path(folder) / METRICS).is_file()


def _continued(unit: Unit) -> Unit:
    return Unit("search", unit.name, 1) if unit.kind == "study" else Unit("baseline", unit.name)


def _decide(
    state: Any, ctx: AutoContext, paused: list[Unit], reference: dict[str, float]
) -> dict[str, Any]:
    """The race's record: every competitor's validation Δ_MTL at the rung; the paused ones
    kept (the best ⌈m/η⌉ of the m paused, and only those ahead at the rung of hard-sharing and
    the tree, already trained for the full budget: one behind them is not expected to overtake them,
    by the measured rank correlation of the rung with the full budget); those continued and
    stopped."""
    epochs = rung_epochs(ctx.config.train.epochs, ctx.eta)
    handlers = task_handlers(ctx.data)
    directions = {h.name: h.higher_is_better for h in handlers}
    studies = {u.name for u in paused if u.kind == "study"}
    scores = {}
    for name, folder in _competitors(state, ctx, paused).items():
        val = _rung_primary(folder, epochs, handlers, name in studies)
        if val is not None:
            scores[name] = delta_mtl(val, reference, directions)
    ranked = sorted(scores, key=lambda n: -scores[n])
    names = [u.name for u in paused]
    racing = [n for n in ranked if n in names]
    trained = max((scores[n] for n in ranked if n not in names), default=-math.inf)
    kept = [n for n in racing[: math.ceil(len(racing) / ctx.eta)] if scores[n] > trained]
    # unscored: a baseline without a history is not dropped; a study that chose nothing is;
    # a baseline that early stopping finished before the rung is kept (nothing left to pay)
    done = {u.name for u in paused if u.kind == "baseline" and _finished(state, u)}
    continued = [
        n for n in names if n in kept or n in done or (n not in scores and n not in studies)
    ]
    return {
        "epochs": epochs,
        "eta": ctx.eta,
        "scores": {n: round(scores[n], 4) for n in ranked},
        "kept": kept,
        "continued": continued,
        "stopped": [n for n in names if n not in continued],
    }
