"""What one unit of ``sharenas auto`` does, from the unit alone: the same function serves the
main process and the workers of ``--workers`` (:mod:`sharenas.workflows.auto_parallel`), so a
unit trains the same model wherever it runs."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sharenas.config import Config, build_config
from sharenas.data.base import TaskSetData
from sharenas.errors import ConfigError
from sharenas.run_files import read_record
from sharenas.runs.folder import ARCH, CONFIG, METRICS, with_arch
from sharenas.runs.random_archs import train_random
from sharenas.runs.training import ensure_trained
from sharenas.spaces.registry import space_spec
from sharenas.spaces.spec import SearchKind
from sharenas.workflows.auto_adopt import adopt_hard_sharing, can_adopt, measuring_training
from sharenas.workflows.auto_plan import HARD_SHARING, AutoPlan, space_config
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.session import search

log = logging.getLogger(__name__)
Work = Callable[[], Path]  # runs (or resumes) one unit; returns the run folder it delivers
SPACE = "branching"  # the space whose search measures the room
AFFINITY = "affinity"  # the strategy that measures (a random branching search would not)
BRANCHING = Unit("search", SPACE, 1)  # the full-budget branching search


@dataclass
class AutoContext:
    """Everything a unit needs besides itself (rebuilt by a worker from ``auto.json``)."""

    config: Config
    plan: AutoPlan
    out: Path
    data: TaskSetData
    eta: int
    flow: str  # "room" (the room measured first) or "thorough"
    progress: bool = True


def unit_work(unit: Unit, ctx: AutoContext) -> Work:
    """The work of ``unit``: train a baseline, the random architectures of a space, or search
    a space at a rung (⌈epochs/η⌉ epochs at rung 0, the full budget at rung 1)."""
    config, out, budget = ctx.config, ctx.out, ctx.plan.budget
    if unit.kind == "baseline":
        label, folder = f"baseline {unit.name}", out / "baselines" / unit.name
        if ctx.flow == "room" and unit.name == HARD_SHARING and can_adopt(out):
            return lambda: adopt_hard_sharing(out, folder, ctx.data)
        until = rung_epochs(config.train.epochs, ctx.eta) if unit.paused else None
        return _train(with_arch(config, unit.name), folder, ctx, label, until)
    full = config.train.epochs
    if unit.kind == "random":
        searched = space_config(config, unit.name, full, budget)
        return _random(searched, out / "random" / unit.name, ctx)
    epochs = full if unit.rung or unit.kind == "study" else rung_epochs(full, ctx.eta)
    searched = space_config(config, unit.name, epochs, budget)
    if ctx.flow == "room" and space_spec(unit.name).searched_by is SearchKind.STUDY:
        searched = evidence_study(searched, ctx.out)  # its choice trained by "rung 1 <space>"
        if unit.kind == "study":
            return _search(searched, out / "rung-1" / unit.name, ctx, deliver=False)
    if ctx.flow == "room" and unit == BRANCHING and searched.searched.strategy != AFFINITY:
        raw = searched.model_dump(mode="json")  # the config's own branching search, e.g. random
        raw["search"]["strategy"] = AFFINITY
        searched = build_config(raw, source="auto")
    return _search(searched, out / f"rung-{unit.rung}" / unit.name, ctx)


def evidence_study(config: Config, out: Path) -> Config:
    """The room path's study: only the partitions the evidence points at, each task's channels
    its own (independent) and the affinity tree's groups at its last stage as a partition
    (:meth:`PartitionSpace.grouping_vector`); not share-all, whose sharing the measuring
    hard-sharing training already scored. Measured on planted groups: the independent corner
    was the chosen partition in every seed of the one-generation study (BENCHMARKS.md). The
    partitions are scored against auto's hard-sharing run, so no single-task teachers are
    trained for the study (T trainings' worth; the distill evaluator still needs them)."""
    tree_file = measuring_training(out).parent / ARCH
    tree = read_record(tree_file).get("tree") if tree_file.is_file() else None
    finest = tree[-1] if tree else []
    tasks = sum(len(group) for group in finest)
    groupings = [finest] if 1 < len(finest) < tasks else []  # not a corner again
    raw = config.model_dump(mode="json")
    study = raw["search"]["study"]
    study.update(groupings=groupings, share_all=False, trials=1 + len(groupings))
    reference = out / "baselines" / HARD_SHARING  # the measuring training's network, evaluated
    if (reference / METRICS).is_file() and raw["search"]["evaluation"]["evaluator"] != "distill":
        raw["search"]["evaluation"]["reference"] = str(reference)  # no teachers to train
    return build_config(raw, source="auto")


def execute(unit: Unit, work: Work) -> dict[str, Any]:
    """Run ``work`` and return the unit's record for ``auto.json``: its run folder and wall
    seconds, or (a ConfigError, e.g. no partition meets the budget) why it was left out."""
    log.info("auto: %s", unit.key)
    began = time.perf_counter()
    try:
        delivered = work()
    except ConfigError as exc:
        log.warning("auto: %s left out: %s", unit.key, exc)
        return {**unit.record(), "folder": None, "problem": str(exc)}
    seconds = round(time.perf_counter() - began, 3)
    return {**unit.record(), "folder": str(delivered), "seconds": seconds}


def rung_epochs(epochs: int, eta: int) -> int:
    """The epochs of rung 0 of successive halving: ⌈epochs/η⌉."""
    return max(1, math.ceil(epochs / eta))


def _train(
    config: Config, folder: Path, ctx: AutoContext, label: str, until: int | None = None
) -> Work:
    def work() -> Path:  # a run that finished before auto.json said so is kept
        options = {"data": ctx.data, "progress": ctx.progress, "label": label, "until": until}
        return ensure_trained(config, folder, **options)

    return work


def _search(config: Config, folder: Path, ctx: AutoContext, deliver: bool = True) -> Work:
    def work() -> Path:
        inner = folder / "search"
        started = inner.exists() and any(inner.rglob(CONFIG))
        found = search(config, folder, resume=started, baselines=False, progress=ctx.progress,
                       data=ctx.data, figures=False, deliver=deliver)  # fmt: skip
        if not deliver:
            return inner  # the study: its metrics.json names the chosen point, if any
        if found.run is None:
            raise ConfigError(f"{folder}: the partition study found no point within the budget.")
        return found.run.folder

    return work


def _random(config: Config, folder: Path, ctx: AutoContext) -> Work:
    def work() -> Path:
        train_random(config, folder, ctx.data, ctx.progress)  # keeps finished ones
        return folder

    return work
