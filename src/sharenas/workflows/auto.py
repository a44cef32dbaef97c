"""``sharenas auto``: one task set, one FLOPs budget, one answer, at the cost the room calls for.

First the room is measured (:mod:`sharenas.workflows.auto_room`): single-task and the branching
search, whose measuring training is hard-sharing with per-stage task affinity. Where every task
pair helps and hard-sharing is not below single-task beyond the validation noise, no architecture
is likely to win by more than chance: the better of the two is recommended and ``auto`` stops
(about three trainings). Where the affinities ask for branches (or sharing everything is
measurably worse), the tree the affinities ask for is retrained and the hand-designed baselines
within the budget are trained beside it; the best on validation is recommended.

``thorough`` (or a branching space that cannot be searched within the budget) runs everything
instead: the baselines, random architectures of every space and every space's search, sharing
the time by successive halving (Jamieson & Talwalkar, AISTATS 2016) with two rungs: every space
searched with ⌈epochs/η⌉ epochs, the best ⌈n/η⌉ on validation Δ_MTL again with the full budget
(with ``hours``, only as many as the time left is estimated to allow).

The recommended model is the one with the best validation Δ_MTL among the full-budget models
within the budget; it is copied as a run folder into ``<out>/recommended``. Every finished unit is
recorded in ``auto.json`` (atomically), so a killed run resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sharenas.cache import write_json_atomic
from sharenas.config import Config, build_config
from sharenas.data.base import TaskSetData
from sharenas.errors import ConfigError, SharenasError
from sharenas.run_files import read_record
from sharenas.runs.folder import (
    CONFIG,
    METRICS,
    config_changes,
    config_record,
    copy_delivered,
    with_arch,
)
from sharenas.runs.lock import folder_lock
from sharenas.runs.oneshot import SUPERNET_NETWORK
from sharenas.runs.out_folder import LOCK, MARKER, RUN_FILES, check_folder, data_inputs, make_folder
from sharenas.runs.random_archs import train_random
from sharenas.runs.training import ensure_trained, load_data
from sharenas.workflows.auto_plan import REFERENCE, AutoPlan, plan_auto, space_config
from sharenas.workflows.auto_report import write_auto_report
from sharenas.workflows.auto_room import AFFINITY, BRANCHING, SPACE, Room, measure_room
from sharenas.workflows.auto_scores import Candidate, recommend, validation_scores
from sharenas.workflows.auto_seeds import seeds_comparison
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.session import search

log = logging.getLogger(__name__)
STATE = "auto.json"
RECOMMENDED = "recommended"


@dataclass
class AutoResult:
    """What ``auto`` gives back: every evaluated model, the recommended one, the report."""

    folder: Path
    plan: AutoPlan
    candidates: list[Candidate]
    recommended: Candidate
    files: dict[str, Path]
    state: dict[str, Any]
    over_seeds: dict[str, Any] | None = None  # with seeds: Δ_MTL per role and seed, paired


class AutoState:
    """``auto.json``: the plan, the finished units (folder, seconds) and the decisions."""

    def __init__(self, folder: Path, fresh: dict[str, Any]) -> None:
        self.path = folder / STATE
        self.data = read_record(self.path) if self.path.exists() else fresh

    def save(self) -> None:
        write_json_atomic(self.path, self.data)

    def run(self, unit: Unit, work: Callable[[], Path]) -> dict[str, Any] | None:
        """``work()`` unless ``unit`` finished; returns its record (None when the unit could
        not run within the budget, the reason recorded)."""
        units, name = self.data.setdefault("units", {}), unit.key
        if name not in units:
            log.info("auto: %s", name)
            began = time.perf_counter()
            try:
                delivered = work()
            except ConfigError as exc:  # e.g. no partition meets the budget
                log.warning("auto: %s left out: %s", name, exc)
                units[name] = {**unit.record(), "folder": None, "problem": str(exc)}
            else:
                seconds = round(time.perf_counter() - began, 3)
                units[name] = {**unit.record(), "folder": str(delivered), "seconds": seconds}
            self.save()
        return units[name] if units[name]["folder"] else None


Work = Callable[[], Path]  # runs (or resumes) one unit; returns the run folder it delivers


def _train_unit(
    config: Config, folder: Path, data: TaskSetData, progress: bool, label: str
) -> Work:
    def work() -> Path:  # a run that finished before auto.json said so is kept
        return ensure_trained(config, folder, data=data, progress=progress, label=label)

    return work


def _search_unit(config: Config, folder: Path, data: TaskSetData, progress: bool) -> Work:
    def work() -> Path:
        inner = folder / "search"
        started = inner.exists() and any(inner.rglob(CONFIG))
        found = search(config, folder, resume=started, baselines=False, progress=progress,
                       data=data)  # fmt: skip
        if found.run is None:
            raise ConfigError(f"{folder}: the partition study found no point within the budget.")
        return found.run.folder

    return work


def _random_unit(config: Config, folder: Path, data: TaskSetData, progress: bool) -> Work:
    def work() -> Path:
        train_random(config, folder, data, progress)  # keeps finished ones, resumes the rest
        return folder

    return work


def run_baselines(
    state: AutoState,
    config: Config,
    plan: AutoPlan,
    out: Path,
    data: TaskSetData,
    progress: bool,
    only: list[str] | None = None,
) -> None:
    for arch in only or plan.baselines:
        folder = out / "baselines" / arch
        work = _train_unit(with_arch(config, arch), folder, data, progress, f"baseline {arch}")
        state.run(Unit("baseline", arch), work)


def run_randoms(
    state: AutoState, config: Config, plan: AutoPlan, out: Path, data: TaskSetData, progress: bool
) -> None:
    for space in plan.spaces:
        searched = space_config(config, space, config.train.epochs, plan.budget)
        folder = out / "random" / space
        state.run(Unit("random", space), _random_unit(searched, folder, data, progress))


def run_rung(
    state: AutoState,
    config: Config,
    plan: AutoPlan,
    rung: int,
    spaces: list[str],
    epochs: int,
    out: Path,
    data: TaskSetData,
    progress: bool,
) -> None:
    for space in spaces:
        searched = space_config(config, space, epochs, plan.budget)
        folder = out / f"rung-{rung}" / space
        unit = Unit("search", space, rung)
        state.run(unit, _search_unit(searched, folder, data, progress))


def survivors(
    state: AutoState,
    plan: AutoPlan,
    scores: dict[str, float],
    eta: int,
    deadline: float | None,
    scale: float,
) -> list[str]:
    """The spaces searched again with the full budget (decided once, then kept): the best
    ⌈n/η⌉ by validation Δ_MTL at rung 0, fewer when the time left does not allow them."""
    if "survivors" in state.data:
        return list(state.data["survivors"])
    ranked = sorted((s for s in plan.spaces if s in scores), key=lambda s: -scores[s])
    chosen, why = ranked[: math.ceil(len(ranked) / eta)], f"the best ⌈{len(ranked)}/{eta}⌉"
    if deadline is not None:
        left, kept = deadline - time.time(), []
        for space in chosen:
            cost = state.data["units"][Unit("search", space, 0).key]["seconds"] * scale
            if cost <= left:
                kept.append(space)
                left -= cost
        if kept != chosen:
            why += f"; {len(chosen) - len(kept)} dropped: the time left would not allow them"
        chosen = kept
    state.data["survivors"], state.data["survivors_why"] = chosen, why
    state.save()
    return chosen


def room_first(
    state: AutoState, config: Config, plan: AutoPlan, out: Path, data: TaskSetData, progress: bool
) -> Room | None:
    """Measure the room (single-task and the branching search, :mod:`auto_room`); None when the
    branching space cannot be searched within the budget (every space is then searched)."""
    if SPACE not in plan.spaces:
        state.data["room_skipped"] = (
            f"the branching space cannot be searched here ({plan.left_out.get(SPACE + ' search')})"
        )
        state.save()
        return None
    searched = space_config(config, SPACE, config.train.epochs, plan.budget)
    if searched.searched.strategy != AFFINITY:  # the config's own branching search, e.g. random
        raw = searched.model_dump(mode="json")
        raw["search"]["strategy"] = AFFINITY
        searched = build_config(raw, source="auto")
    folder = out / f"rung-{BRANCHING.rung}" / SPACE
    unit = state.run(BRANCHING, _search_unit(searched, folder, data, progress))
    if unit is None:
        problem = state.data["units"][BRANCHING.key].get("problem", "it did not finish")
        state.data["room_skipped"] = f"the branching search failed ({problem})"
        state.save()
        return None
    return measure_room(state, data)


def reuse_measuring_training(state: AutoState, plan: AutoPlan) -> None:
    """The branching search's measuring training is a hard-sharing training (its supernet is
    the hard-sharing tree, trained with the full budget): recorded as the ``hard-sharing``
    baseline, not trained a second time (same FLOPs per example checked)."""
    unit, record = Unit("baseline", "hard-sharing"), state.data["units"].get(BRANCHING.key)
    if unit.key in state.data["units"] or unit.name not in plan.baselines or not record:
        return
    folder = Path(record["folder"]) / SUPERNET_NETWORK
    if not (folder / METRICS).exists():
        return
    metrics = read_record(folder / METRICS)
    if metrics.get("equals_baseline") != unit.name:
        return
    if metrics.get("flops_per_example") != plan.baselines[unit.name]:
        return
    why = "the branching search's measuring training (its supernet is the hard-sharing tree)"
    state.data["units"][unit.key] = {**unit.record(), "folder": str(folder), "seconds": 0.0,
                                     "reused": why}  # fmt: skip
    state.save()


def deliver(candidate: Candidate, out: Path) -> Path:
    """The recommended model's run folder (its files, not its sub-folders) in ``out``: each file
    replaced atomically and the run files of an earlier choice that this one lacks removed; any
    other file there (an export, a note of yours) is kept. A ``recommended/`` that is not a run
    folder sharenas wrote (or holds a link) is refused."""
    target = make_folder(out / RECOMMENDED, "run")
    source = Path(candidate.folder)
    names = tuple(
        sorted(
            p.name
            for p in source.iterdir()
            if p.is_file() and not p.is_symlink() and p.name not in (LOCK, MARKER)
        )
    )
    copy_delivered(source, target, names)
    for stale in sorted(RUN_FILES - set(names)):
        (target / stale).unlink(missing_ok=True)
    return target


def auto(
    config: Config,
    out: Path,
    budget: str,
    *,
    hours: float | None = None,
    eta: int = 3,
    seeds: list[int] | None = None,
    thorough: bool = False,
    progress: bool = True,
) -> AutoResult:
    """Search every space that applies within ``budget`` (FLOPs per example, or a baseline's
    name), compare with the baselines and random architectures, recommend one model."""
    if eta < 2:
        raise SharenasError(f"--eta {eta}: successive halving needs η ≥ 2 (default 3).")
    out = Path(out)
    check_folder(out, "auto", data_inputs(config))  # a new, empty or auto folder only
    with folder_lock(out):
        return _auto_locked(config, out, budget, hours, eta, seeds, thorough, progress)


def _auto_locked(
    config: Config,
    out: Path,
    budget: str,
    hours: float | None,
    eta: int,
    seeds: list[int] | None,
    thorough: bool,
    progress: bool,
) -> AutoResult:
    began = time.time()
    thorough = thorough or hours is not None  # the time goes to the other spaces' searches
    data = load_data(config, None)
    plan = plan_auto(config, data, budget)
    flow = "thorough" if thorough else "room"
    fresh = {"plan": plan.to_dict(), "eta": eta, "started": began, "config": config_record(config)}
    state = AutoState(out, {**fresh, "flow": flow})
    _check_same(state, plan, eta, config, flow)
    deadline = state.data["started"] + hours * 3600 if hours is not None else None
    full = config.train.epochs
    first = max(1, math.ceil(full / eta))
    run_baselines(state, config, plan, out, data, progress, only=[REFERENCE])
    room = None if thorough else room_first(state, config, plan, out, data, progress)
    if room is not None:
        reuse_measuring_training(state, plan)
    if room is None or room.room:
        run_baselines(state, config, plan, out, data, progress)
    if room is None:
        run_randoms(state, config, plan, out, data, progress)
        run_rung(state, config, plan, 0, plan.spaces, first, out, data, progress)
        candidates = validation_scores(state, data)
        rung0 = {c.space: c.val_delta for c in candidates if c.kind == "search" and c.rung == 0}
        kept = survivors(state, plan, rung0, eta, deadline, full / first)
        run_rung(state, config, plan, 1, kept, full, out, data, progress)
    candidates = validation_scores(state, data)
    chosen = recommend(candidates, plan.budget)
    folder = deliver(chosen, out)
    began_seeds = time.perf_counter()
    paired = seeds_comparison(state, config, out, candidates, chosen, seeds, progress)
    if paired is not None:
        state.data["seeds_seconds"] = state.data.get("seeds_seconds", 0.0) + round(
            time.perf_counter() - began_seeds, 3
        )
        state.save()
    files = write_auto_report(out, config, plan, state.data, candidates, chosen, paired)
    files = {**files, "recommended": folder}
    return AutoResult(out, plan, candidates, chosen, files, state.data, paired)


def _check_same(state: AutoState, plan: AutoPlan, eta: int, config: Config, flow: str) -> None:
    """A resumed run must have the config, budget, η and flow (``--thorough`` or not) it started
    with (its results would otherwise be presented as the answer to another request)."""
    recorded = state.data["plan"]
    started = state.data.get("flow") or ("room" if "room" in state.data else "thorough")
    if started != flow:
        given = "with --thorough (or --time)" if started == "thorough" else "without --thorough"
        raise SharenasError(
            f"{state.path}: this auto run was started {given}; resume it the same way, or "
            "pass another --out."
        )
    if recorded["budget"] != plan.budget or state.data["eta"] != eta:
        raise SharenasError(
            f"{state.path}: this auto run was started with --budget {recorded['budget']:.4g} "
            f"and --eta {state.data['eta']}; resume it with the same, or pass another --out."
        )
    if "config" not in state.data:  # started before auto.json recorded its config
        state.data["config"] = config_record(config)
        state.save()
    changed = config_changes(state.data["config"], config)
    if changed:
        shown = ", ".join(changed[:4]) + (" …" if len(changed) > 4 else "")
        raise SharenasError(
            f"{state.path}: this auto run was started with another config (different {shown}); "
            "resume it with the same config and --set options, or pass another --out."
        )
