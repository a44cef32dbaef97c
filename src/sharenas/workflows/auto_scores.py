"""Every model ``sharenas auto`` evaluated, scored the same way: its validation primary metrics
(recomputed from its delivered weights, so inherited and trained models are read alike), Δ_MTL
against single-task on validation (for choosing) and on test (for reporting), FLOPs per
example."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sharenas.data.base import TaskSetData
from sharenas.engine.evaluate import evaluate, primary_metrics
from sharenas.errors import SharenasError
from sharenas.runs.equal_baseline import equal_baseline
from sharenas.runs.result import open_run
from sharenas.runs.training import task_handlers
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_plan import HARD_SHARING, REFERENCE
from sharenas.workflows.auto_units import Unit

REFERENCE_NAME = Unit("baseline", REFERENCE).key
HARD_SHARING_NAME = Unit("baseline", HARD_SHARING).key


@dataclass
class Candidate:
    """One evaluated model."""

    name: str
    kind: str  # baseline, random or search
    space: str | None
    rung: int | None  # a search's rung (0: ⌈epochs/η⌉ epochs; 1: the full budget)
    folder: Path
    metrics: dict[str, Any]
    val: dict[str, float]
    val_delta: float = 0.0
    test_delta: float = 0.0
    same_as: str | None = None  # the baseline candidate whose network this one is

    @property
    def flops(self) -> int:
        return int(self.metrics["flops_per_example"])

    @property
    def full_budget(self) -> bool:
        return self.rung != 0

    def within(self, budget: float) -> bool:
        return self.flops <= budget


def validation_primary(folder: Path, data: TaskSetData) -> dict[str, float]:
    """The primary metric per task of the run in ``folder`` on the validation split."""
    run = open_run(folder)
    handlers = task_handlers(data)
    batch = run.config.train.eval_batch_size
    tasks = evaluate(run.model, handlers, data.val, batch, torch.device("cpu"))
    return primary_metrics(tasks, handlers)


def _unit_models(unit: Unit, folder: Path) -> list[tuple[Candidate, Path]]:
    """(model, run folder) of a finished unit, named for the report: ``baseline mmoe``,
    ``random fusion 2`` (a random unit holds one run per architecture), ``routing search``
    (full budget) or ``routing search, rung 0`` (⌈epochs/η⌉ epochs)."""
    if unit.kind == "random":
        runs = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: int(p.name))
        return [(_candidate(unit, f"{unit.key} {p.name}", p), p) for p in runs]
    if unit.kind == "search":
        name = f"{unit.name} search" + (", rung 0" if unit.rung == 0 else "")
        return [(_candidate(unit, name, folder), folder)]
    return [(_candidate(unit, unit.key, folder), folder)]


def _candidate(unit: Unit, name: str, folder: Path) -> Candidate:
    metrics = open_run(folder).metrics
    groups = metrics.get("groups_per_stage")
    if unit.kind != "baseline" and groups and all(n == 1 for n in groups):  # shares every stage
        name = f"hard-sharing ({name}: every stage shared)"
    return Candidate(name, unit.kind, unit.space, unit.rung, folder, metrics, {})


def cached_validation(state: Any, folder: Path, data: TaskSetData) -> dict[str, float]:
    """:func:`validation_primary`, computed once per run folder and kept in ``auto.json``."""
    cache = state.data.setdefault("validation", {})
    if str(folder) not in cache:
        cache[str(folder)] = validation_primary(folder, data)
        state.save()
    return dict(cache[str(folder)])


def validation_scores(state: Any, data: TaskSetData) -> list[Candidate]:
    """Every finished model with its validation and test Δ_MTL."""
    candidates = []
    for key, record in state.data.get("units", {}).items():
        unit = Unit.of(key, record)
        if not record.get("folder") or unit.paused:  # a paused baseline is not a model yet
            continue
        for candidate, folder in _unit_models(unit, Path(record["folder"])):
            candidate.val = cached_validation(state, folder, data)
            candidates.append(candidate)
    return _with_deltas(_mark_equal_networks(candidates, data))


def _mark_equal_networks(candidates: list[Candidate], data: TaskSetData) -> list[Candidate]:
    """A searched or random model whose network is a trained baseline's (the same canonical
    genotype, parameters and FLOPs) is that baseline, not a new candidate: ``same_as``."""
    baselines = {c.name.removeprefix("baseline "): c for c in candidates if c.kind == "baseline"}
    for c in candidates:
        if c.kind == "baseline":
            continue
        twin = baselines.get(equal_baseline(open_run(c.folder).config, data) or "")
        if twin and twin.metrics.get("params") == c.metrics.get("params") and twin.flops == c.flops:
            c.same_as = twin.name
    return candidates


def reference_of(candidates: list[Candidate]) -> Candidate | None:
    """What every Δ_MTL is measured against: single-task; where it was not trained (over the
    budget), the hard-sharing baseline or the branching search's hard-sharing network; None
    when none finished."""
    named = {c.name: c for c in candidates}
    other = (c for c in candidates if c.name.startswith(HARD_SHARING))  # the search's network
    return named.get(REFERENCE_NAME) or named.get(HARD_SHARING_NAME) or next(other, None)


def _with_deltas(candidates: list[Candidate]) -> list[Candidate]:
    reference = reference_of(candidates)
    if reference is None:
        raise SharenasError(
            "auto: the reference (single-task, else hard-sharing) did not finish; resume the run."
        )
    directions = reference.metrics["higher_is_better"]
    for c in candidates:
        c.val_delta = delta_mtl(c.val, reference.val, directions)
        c.test_delta = delta_mtl(c.metrics["primary"], reference.metrics["primary"], directions)
    return candidates


def eligible_models(candidates: list[Candidate], budget: float) -> list[Candidate]:
    """The models a recommendation is chosen among: full budget, within the FLOPs budget, and
    not a baseline's network under another name."""
    return [c for c in candidates if c.full_budget and c.within(budget) and not c.same_as]


def recommend(candidates: list[Candidate], budget: float) -> Candidate:
    """The model with the best validation Δ_MTL among those trained with the full budget and
    within the FLOPs budget (:func:`_preference` breaks ties)."""
    eligible = eligible_models(candidates, budget)
    if not eligible:
        raise SharenasError(
            f"auto: no model within {budget:.4g} FLOPs per example finished; raise --budget."
        )
    return max(eligible, key=_preference)


KIND_ORDER = {"baseline": 2, "search": 1, "random": 0}  # on a tie, the simpler to explain


def _preference(c: Candidate) -> tuple[float, float, int]:
    """Best validation Δ_MTL; on a tie fewer FLOPs, then a baseline before a searched model
    before a random one."""
    return (round(c.val_delta, 6), -c.flops, KIND_ORDER[c.kind])
