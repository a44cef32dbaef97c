"""``sharenas auto``: one task set, one FLOPs budget, one answer, at the cost the room calls for.

First the room is measured (:mod:`sharenas.workflows.auto_room`): the branching search, whose
measuring training is hard-sharing with per-stage task affinity, and single-task where it fits
the budget. Where every task pair helps and hard-sharing is not below single-task beyond the
validation noise, no architecture is likely to win by more than chance: the better of the two is
recommended and ``auto`` stops (about one training, and single-task where it is trained). Where
the affinities ask for branches (or sharing everything is measurably worse), the tree the
affinities ask for is retrained, hard-sharing is the measuring training's network
(:mod:`auto_adopt`), and the other baselines within the budget and the partition study
(:func:`auto_room.room_searches`, the partitions the evidence points at) race by successive
halving (:mod:`auto_race`); the best full-budget model on validation is recommended.

``thorough`` (or a branching space that cannot be searched within the budget) runs everything
instead: the baselines, random architectures of every space and every space's search, sharing
the time by successive halving (Jamieson & Talwalkar, AISTATS 2016) with two rungs: every space
searched with ⌈epochs/η⌉ epochs, the best ⌈n/η⌉ on validation Δ_MTL again with the full budget
(with ``hours``, only as many as the time left is estimated to allow).

The recommended model is the one with the best validation Δ_MTL among the full-budget models
within the budget; it is copied as a run folder into ``<out>/recommended``. Every finished unit is
recorded in ``auto.json`` (atomically), so a killed run resumes where it stopped. With
``workers`` the independent units of each phase run at once (:mod:`auto_parallel`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sharenas.cache import write_json_atomic
from sharenas.config import Config
from sharenas.errors import SharenasError
from sharenas.report.document import Part
from sharenas.run_files import read_record
from sharenas.runs.folder import config_changes, config_record, copy_delivered
from sharenas.runs.lock import folder_lock
from sharenas.runs.out_folder import LOCK, MARKER, RUN_FILES, check_folder, data_inputs, make_folder
from sharenas.runs.smoke import replace_smoke_run
from sharenas.runs.training import load_data
from sharenas.workflows.auto_parallel import run_parallel, start_study
from sharenas.workflows.auto_plan import HARD_SHARING, REFERENCE, AutoPlan, plan_auto
from sharenas.workflows.auto_progress import say_phase
from sharenas.workflows.auto_race import race
from sharenas.workflows.auto_report import write_auto_report
from sharenas.workflows.auto_room import SINGLE, Room, measure_room, room_searches
from sharenas.workflows.auto_scores import (
    Candidate,
    cached_validation,
    recommend,
    validation_scores,
)
from sharenas.workflows.auto_seeds import seeds_comparison
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.auto_work import (
    BRANCHING,
    SPACE,
    AutoContext,
    Work,
    execute,
    rung_epochs,
    unit_work,
)

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
    report: list[Part] = field(default_factory=list)  # report.md's text and tables


class AutoState:
    """``auto.json``: the plan, the finished units (folder, seconds) and the decisions."""

    def __init__(self, folder: Path, fresh: dict[str, Any]) -> None:
        self.path = folder / STATE
        self.data = read_record(self.path) if self.path.exists() else fresh

    def save(self) -> None:
        write_json_atomic(self.path, self.data)

    def run(self, unit: Unit, work: Work) -> dict[str, Any] | None:
        """``work()`` unless ``unit`` finished; returns its record (None when the unit could
        not run within the budget, the reason recorded)."""
        units = self.data.setdefault("units", {})
        if unit.key not in units:
            units[unit.key] = execute(unit, work)
            self.save()
        return units[unit.key] if units[unit.key]["folder"] else None


def run_units(
    state: AutoState, units: list[Unit], ctx: AutoContext, workers: int, storage: str | None
) -> None:
    """The units not finished yet: on ``workers`` processes when more than one is left
    (:mod:`auto_parallel`), else one after the other here."""
    pending = [u for u in units if u.key not in state.data.get("units", {})]
    if ctx.progress and pending:
        say_phase(state.data, ctx.plan, pending, workers)
    if workers > 1 and len(pending) > 1:
        run_parallel(state, pending, ctx, workers, storage)
    for unit in units:
        state.run(unit, unit_work(unit, ctx))


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


def room_first(state: AutoState, ctx: AutoContext, options: AutoOptions) -> Room | None:
    """Measure the room (the branching search, beside single-task where it fits the budget or
    seeds compare against it: :mod:`auto_room`); None when the branching space cannot be
    searched within the budget (every space is then searched)."""
    if SPACE not in ctx.plan.spaces:
        state.data["room_skipped"] = (
            "the branching space cannot be searched here "
            f"({ctx.plan.left_out.get(SPACE + ' search')})"
        )
        state.save()
        return None
    units = [SINGLE, BRANCHING] if _single_task_needed(ctx.plan, options) else [BRANCHING]
    run_units(state, units, ctx, options.workers, options.storage)
    if not state.data["units"][BRANCHING.key]["folder"]:
        problem = state.data["units"][BRANCHING.key].get("problem", "it did not finish")
        state.data["room_skipped"] = f"the branching search failed ({problem})"
        state.save()
        return None
    return measure_room(state, ctx.data)


def _single_task_needed(plan: AutoPlan, options: AutoOptions) -> bool:
    """Single-task is trained where it fits the budget (a model the user can take, and the
    room's bound) or ``--seeds`` compares against it; over the budget the room path measures
    every Δ_MTL against hard-sharing instead (T trainings' worth of compute saved)."""
    return plan.baselines[REFERENCE] <= plan.budget or bool(options.seeds)


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


@dataclass
class AutoOptions:
    """How ``auto`` runs: the hours (``--time``), successive halving's η, the seeds compared,
    the thorough flow, progress, parallel units (``--workers``, ``--storage``), and whether
    it is a smoke run (``--smoke``: it replaces an earlier smoke run in its folder)."""

    hours: float | None = None
    eta: int = 3
    seeds: list[int] | None = None
    thorough: bool = False
    progress: bool = True
    workers: int = 1
    storage: str | None = None
    smoke: bool = False


def auto(config: Config, out: Path, budget: str, options: AutoOptions | None = None) -> AutoResult:
    """Search every space that applies within ``budget`` (FLOPs per example, or a baseline's
    name), compare with the baselines and random architectures, recommend one model."""
    options = options or AutoOptions()
    if options.eta < 2:
        raise SharenasError(f"--eta {options.eta}: successive halving needs η ≥ 2 (default 3).")
    if options.workers < 1:
        raise SharenasError(f"--workers {options.workers}: give at least 1 worker process.")
    if options.storage and options.workers < 2:
        raise SharenasError(
            "--storage holds the units of --workers: give --workers 2 or more with it, or "
            "leave it out to run the units in this process."
        )
    out = Path(out)
    if options.smoke:
        replace_smoke_run(out, "auto")  # the same smoke command can run again, changed or not
    check_folder(out, "auto", data_inputs(config))  # a new, empty or auto folder only
    with folder_lock(out):
        return _auto_locked(config, out, budget, options)


def _auto_locked(config: Config, out: Path, budget: str, options: AutoOptions) -> AutoResult:
    began, eta = time.time(), options.eta
    thorough = options.thorough or options.hours is not None  # time goes to other searches
    data = load_data(config, None)
    plan = plan_auto(config, data, budget)
    flow = "thorough" if thorough else "room"
    fresh = {"plan": plan.to_dict(), "eta": eta, "started": began, "config": config_record(config)}
    state = AutoState(out, {**fresh, "flow": flow})
    _check_same(state, plan, eta, config, flow)
    ctx = AutoContext(config, plan, out, data, eta, flow, options.progress)
    if options.workers > 1:  # the storage checked (and recorded) before anything trains
        start_study(state, options.storage)
    baselines = [Unit("baseline", arch) for arch in plan.baselines]
    room = None if thorough else room_first(state, ctx, options)
    if room is not None and room.room:
        _room_path(state, ctx, options)
    if room is None:  # the branching space cannot measure the room: every space is searched
        ctx.flow = "thorough"
        _search_every_space(state, ctx, baselines, options)
    candidates = validation_scores(state, data)
    chosen = recommend(candidates, plan.budget)
    folder = deliver(chosen, out)
    began_seeds = time.perf_counter()
    seeds, progress = options.seeds, options.progress
    paired = seeds_comparison(state, config, out, candidates, chosen, seeds, progress)
    if paired is not None:
        state.data["seeds_seconds"] = state.data.get("seeds_seconds", 0.0) + round(
            time.perf_counter() - began_seeds, 3
        )
        state.save()
    files, report = write_auto_report(out, config, plan, state.data, candidates, chosen, paired)
    files = {**files, "recommended": folder}
    return AutoResult(out, plan, candidates, chosen, files, state.data, paired, report)


def _room_path(state: AutoState, ctx: AutoContext, options: AutoOptions) -> None:
    """Where there is room: hard-sharing (the measuring training's network), single-task where
    needed, the room searches' studies and every other baseline within the budget trained to
    rung 0; the ones successive halving keeps (:mod:`auto_race`) then continue to the full
    budget."""
    plan, parallel = ctx.plan, (options.workers, options.storage)
    hard = Unit("baseline", HARD_SHARING)  # single-task, where needed, ran in room_first
    raced = [b for b in plan.baselines if b not in (REFERENCE, HARD_SHARING)]
    paused = [Unit("baseline", b, 0) for b in raced]
    paused += [Unit("study", s) for s in room_searches(state.data["plan"])]
    run_units(state, [hard], ctx, *parallel)  # first: the study's reference
    finished = state.data["units"][hard.key]
    if not finished.get("folder"):
        raise SharenasError(
            f"auto: the hard-sharing baseline did not finish ({finished.get('problem')}); fix "
            "that and rerun the same command to continue."
        )
    run_units(state, paused, ctx, *parallel)
    reference = cached_validation(state, Path(finished["folder"]), ctx.data)
    run_units(state, race(state, ctx, paused, reference), ctx, *parallel)


def _search_every_space(
    state: AutoState, ctx: AutoContext, baselines: list[Unit], options: AutoOptions
) -> None:
    """The thorough flow: the baselines, random architectures of every space and every
    space's search at rung 0 (one phase), then the survivors' searches at rung 1."""
    plan, parallel = ctx.plan, (options.workers, options.storage)
    full = ctx.config.train.epochs
    first = rung_epochs(full, ctx.eta)
    spaces = plan.searchable()  # not a space whose points within the budget are one network
    randoms = [Unit("random", space) for space in spaces]
    rung0 = [Unit("search", space, 0) for space in spaces]
    reference = [SINGLE] if SINGLE not in baselines else []
    run_units(state, [*reference, *baselines, *randoms, *rung0], ctx, *parallel)
    candidates = validation_scores(state, ctx.data)
    scores = {c.space: c.val_delta for c in candidates if c.kind == "search" and c.rung == 0}
    deadline = state.data["started"] + options.hours * 3600 if options.hours else None
    kept = survivors(state, plan, scores, ctx.eta, deadline, full / first)
    run_units(state, [Unit("search", space, 1) for space in kept], ctx, *parallel)


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
