"""``sharenas auto``'s first phase: measure the room before searching anything.

Two trainings bound the room: single-task (the reference every Δ_MTL is measured against) and
the branching search (:mod:`sharenas.search.affinity_tree`), whose measuring training is a
hard-sharing training that also measures per-stage task affinity (TAG, Fifty et al., NeurIPS
2021) and asks for the tree those affinities support within the budget. With the noise of one
validation comparison (a bootstrap of the validation rows, :mod:`sharenas.engine.bootstrap`)
they decide:

- **no room** when the tree keeps every task shared at every stage (every pair's measured help
  above its standard errors, so its network is the hard-sharing network the search trained) and
  that network is not below single-task by more than two noise deviations: no architecture is
  likely to beat the better of the two by more than chance, so ``auto`` recommends and stops;
- **room** otherwise: the affinities ask for branches (the tree is retrained and is a candidate),
  the budget's price on FLOPs forced groups together that the affinities kept apart, sharing
  everything is measurably worse than training apart, or the evidence is not finite.

Single-task (one network per task: T trainings' worth of compute) is trained for the decision
only when it fits the budget or ``--seeds`` compares against it. Over the budget it is not a
model the user can take, and the affinities decide alone: a tree that shares every stage,
unforced, means no room (the Δ_MTL comparison is reported as not measured); anything else means
room, and every Δ_MTL is then measured against hard-sharing (the measuring training's network).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from sharenas.engine.bootstrap import bootstrap_delta_sd
from sharenas.run_files import read_record
from sharenas.runs.folder import ARCH
from sharenas.runs.result import open_run
from sharenas.runs.training import task_handlers
from sharenas.spaces.registry import space_spec
from sharenas.spaces.spec import SearchKind
from sharenas.tasks import delta_mtl
from sharenas.workflows.auto_plan import HARD_SHARING, REFERENCE
from sharenas.workflows.auto_scores import cached_validation
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.auto_work import BRANCHING

SINGLE = Unit("baseline", REFERENCE)
NOISE_DEVIATIONS = 2.0


@dataclass
class Room:
    """The first phase's evidence and decision (recorded in ``auto.json`` under ``room``)."""

    room: bool
    why: str
    tree: str
    shared: bool  # the tree keeps every task in one group at every stage
    delta: float | None  # validation Δ_MTL % of the search's network against single-task …
    noise: float | None  # … and its bootstrap standard deviation (None: single-task not trained)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(
    shared: bool, delta: float | None, noise: float | None, forced: bool = False
) -> tuple[bool, str]:
    """(room, why) from the tree, the validation Δ_MTL of its network and the noise (None when
    single-task was not trained: it is over the budget); ``forced``: the budget's price on FLOPs
    merged groups the affinities kept apart."""
    if delta is None or noise is None:
        return _decide_by_affinity(shared, forced)
    if not (math.isfinite(delta) and math.isfinite(noise)):
        return True, f"the evidence is not finite (Δ_MTL {delta}, noise {noise}): nothing ruled out"
    if not shared:
        return True, "the task affinities ask for branches: the tree is a candidate"
    if forced:
        return True, (
            "the budget forces every task into one group although the affinities ask for "
            "branches: other spaces' points within the budget may do better"
        )
    if delta < -NOISE_DEVIATIONS * noise:
        return True, (
            f"every task pair helps, but hard-sharing is {-delta:.2f} % below single-task on "
            f"validation, beyond {NOISE_DEVIATIONS:g} × the noise ({noise:.2f} %)"
        )
    return False, (
        f"every task pair helps (the affinity tree shares every stage) and hard-sharing is "
        f"{delta:+.2f} % against single-task on validation, within {NOISE_DEVIATIONS:g} × the "
        f"noise ({noise:.2f} %) or above it: no architecture is likely to beat it by more "
        "than chance"
    )


def _decide_by_affinity(shared: bool, forced: bool) -> tuple[bool, str]:
    """The decision where single-task is over the budget and was not trained."""
    if not shared or forced:
        return decide(shared, 0.0, 0.0, forced)  # the tree's own reasons for room
    return False, (
        "every task pair helps (the affinity tree shares every stage, unforced by the budget); "
        "single-task is over the budget and was not trained, so hard-sharing is the model "
        "within it that no other is likely to beat by more than chance"
    )


def measure_room(state: Any, data: Any) -> Room:
    """The decision from the finished branching unit and, when it ran, single-task (computed
    once, then read back from ``auto.json``)."""
    if "room" in state.data:
        return Room(**state.data["room"])
    units = state.data["units"]
    found = open_run(Path(units[BRANCHING.key]["folder"]))
    shared = all(n == 1 for n in found.metrics["groups_per_stage"])
    priced = read_record(found.folder / ARCH).get("price_per_flop", 0.0) > 0
    forced = priced and bool(_alternatives(state.data["plan"]))
    if not units.get(SINGLE.key, {}).get("folder"):
        room, why = decide(shared, None, None, forced)
        why = _nothing_else(None, None) if priced and not forced and not room else why
        return _record(state, Room(room, why, found.metrics["tree"], shared, None, None))
    single = open_run(Path(units[SINGLE.key]["folder"]))
    handlers = task_handlers(data)
    batch = found.config.train.eval_batch_size
    cpu = torch.device("cpu")
    val = {f: cached_validation(state, f, data) for f in (single.folder, found.folder)}
    directions = {h.name: h.higher_is_better for h in handlers}
    delta = delta_mtl(val[found.folder], val[single.folder], directions)
    noise = bootstrap_delta_sd(
        found.model, single.model, handlers, data.val, batch, cpu, seed=found.config.seed
    )
    room, why = decide(shared, delta, noise, forced)
    why = _nothing_else(delta, noise) if priced and not forced and not room else why
    return _record(state, Room(room, why, found.metrics["tree"], shared, delta, noise))


def room_searches(plan: dict[str, Any]) -> list[str]:
    """The searches the room path runs beside the tree and the baselines: the spaces searched by
    a study of short trainings (the partition space), where their points within the budget are
    more than one network. Measured gain per training on planted groups (BENCHMARKS.md): the
    partition study (about 15 hard-sharing trainings) gives each task channels of its own at
    hard-sharing's FLOPs and beat hard-sharing by 32–36 points and the affinity tree by 27;
    routing (9–25 trainings, 4 × the FLOPs) and fusion (47–115) are left to ``--thorough``."""
    return [s for s in plan["spaces"] if s not in plan["one_network"]
            and space_spec(s).searched_by is SearchKind.STUDY]  # fmt: skip


def _alternatives(plan: dict[str, Any]) -> list[str]:
    """What the room path could train where the budget forces the tree to share: the
    hand-designed models within the budget other than hard-sharing and single-task, and the
    room searches."""
    return [b for b, flops in plan["baselines"].items()
            if b not in (REFERENCE, HARD_SHARING) and flops <= plan["budget"]
            ] + room_searches(plan)  # fmt: skip


def _nothing_else(delta: float | None, noise: float | None) -> str:
    """Why there is no room where the budget's price on FLOPs kept the tree shared and no other
    hand-designed model or room search fits the budget."""
    measured = (
        "single-task is over the budget and was not trained"
        if delta is None or noise is None
        else f"hard-sharing is {delta:+.2f} % against single-task on validation (noise "
        f"{noise:.2f} %)"
    )
    return (
        "the budget's price on FLOPs keeps every task in one group and no other hand-designed "
        "model or partition of the channels fits the budget, so hard-sharing is the one network "
        f"within it; {measured}"
    )


def _record(state: Any, decision: Room) -> Room:
    state.data["room"] = decision.to_dict()
    state.save()
    return decision
