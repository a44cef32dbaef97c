"""The loop of a trial strategy over a study (Optuna's ask-and-tell): propose a point, skip
surplus copies, known points and points over the FLOPs budget, score it with the evaluator handed
in, tell the study. Workers run this loop in separate processes (or machines) that share the
study's storage (:mod:`sharenas.search.partition_study` explains how they coordinate)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sharenas.cache import file_lock
from sharenas.search.partition_study import (
    DUPLICATE,
    OVER_BUDGET,
    SURPLUS,
    duplicates,
    is_surplus_copy,
    position,
    queue_key,
    spent,
)
from sharenas.search.storage import heartbeat
from sharenas.search.strategy import TrialStrategy

log = logging.getLogger(__name__)


class PointEvaluator(Protocol):
    """Scores one point: ``evaluate(genotype, folder)`` returns an object with ``primary`` (task
    → validation score), ``total_flops`` and ``to_dict()``."""

    def evaluate(self, genotype: Any, folder: Path) -> Any: ...


@dataclass
class StudySearch:
    """What the loop needs: the study, its space, the strategy, the evaluator and the budget."""

    study: Any
    space: Any  # a study space: vector_size, genotype_from_vector
    strategy: TrialStrategy
    evaluator: PointEvaluator
    settings: Any  # search.study
    tasks: list[str]
    flops_of: Callable[[list[float]], float]
    share_all_flops: float
    max_flops: float | None
    out: Path


class TrialObjective:
    """One trial of the study: propose a point, skip surplus copies and points over the FLOPs
    budget, evaluate it; the objectives are every task's score and the FLOPs."""

    def __init__(self, search: StudySearch) -> None:
        self.search, self.study, self.settings = search, search.study, search.settings

    def _skip(self, trial: Any) -> bool:
        """Another worker holds this queued point, the strategy proposes its own, or the
        budget is spent."""
        queued = queue_key(trial.user_attrs) is not None
        return (
            (self.search.strategy.proposes_own and not queued)
            or is_surplus_copy(self.study, trial.number, trial.user_attrs)
            or spent(self.study, below=trial.number) >= self.settings.trials
        )

    def _over_budget(self, trial: Any, vector: list[float]) -> bool:
        """Checked before the evaluation (which counts the FLOPs again for its record). The
        constraint is the excess in units of share-all's FLOPs."""
        if self.search.max_flops is None:
            return False
        if "reference" in trial.user_attrs:  # evaluated whatever the budget
            trial.set_constraint("flops_budget", 0.0)
            return False
        flops, share_all = self.search.flops_of(vector), self.search.share_all_flops
        excess = flops / share_all - self.search.max_flops / share_all
        trial.set_user_attr("budget_excess", excess)
        trial.set_constraint("flops_budget", excess)  # NSGA-II ranks infeasible points last
        if excess > 0:
            trial.set_user_attr(OVER_BUDGET, True)
            trial.set_user_attr("total_flops", flops)
        return excess > 0

    def _duplicate_of(self, trial: Any, genotype: dict[str, Any]) -> int | None:
        """The number of another trial that holds the same point (evaluated, running or over
        the budget): a vector that rounds to a known point is not evaluated again."""
        from optuna.trial import TrialState

        for other in self.study.get_trials(deepcopy=False):
            held = other.state in (TrialState.COMPLETE, TrialState.RUNNING) or (
                other.state == TrialState.PRUNED and other.user_attrs.get(OVER_BUDGET)
            )
            if (
                other.number != trial.number
                and held
                and other.user_attrs.get("genotype") == genotype
            ):
                return other.number
        return None

    def propose(self, trial: Any) -> Any | None:
        """The point ``trial`` evaluates, or None when it is pruned without an evaluation (a
        surplus copy, a point already held by another trial, over the FLOPs budget)."""
        space = self.search.space
        vector = [trial.suggest_float(f"v{i}", 0.0, 1.0) for i in range(space.vector_size)]
        if self._skip(trial):
            trial.set_user_attr(SURPLUS, True)
            return None
        genotype = space.genotype_from_vector(vector)
        duplicate = self._duplicate_of(trial, genotype.to_dict())
        if duplicate is not None:
            trial.set_user_attr(DUPLICATE, duplicate)
            return None
        trial.set_user_attr("genotype", genotype.to_dict())
        if self._over_budget(trial, vector):
            return None
        return genotype

    def evaluate(self, trial: Any, genotype: Any) -> list[float]:
        """Every task's validation score and the FLOPs of the point."""
        folder = self.search.out / "trials" / str(trial.number)
        evaluation = self.search.evaluator.evaluate(genotype, folder)
        trial.set_user_attr("evaluation", evaluation.to_dict())
        scores = [evaluation.primary[task] for task in self.search.tasks]
        return [*scores, float(evaluation.total_flops)]


def run_trial(
    study: Any, objective: TrialObjective, sampler: Callable[[int], Any], lock: Path
) -> None:
    """Ask, evaluate and tell one trial. The ask runs under a file lock (SQLite cannot lock a
    row, so two local workers could otherwise pop the same queued trial) with a sampler seeded
    by the trial's position in the study, so that a resumed study proposes what an
    uninterrupted one would. The heartbeat is recorded before the lock is released."""
    import optuna

    with file_lock(lock):
        optuna.storages.fail_stale_trials(study)
        study.sampler = sampler(position(study))
        trial = study.ask()
        study._storage.record_heartbeat(trial._trial_id)
        genotype = objective.propose(trial)
    if genotype is None:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return
    with heartbeat(study._storage, trial._trial_id, objective.settings.heartbeat):
        try:
            values = objective.evaluate(trial, genotype)
        except BaseException:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise
    study.tell(trial, values)


def run_study(
    search: StudySearch, sampler: Callable[[int], Any], directions: list[str], seed: int
) -> None:
    """Evaluate points until the study holds ``settings.trials`` of them; ``sampler(n)``: the
    strategy's sampler for the trial at position ``n``."""
    study, settings = search.study, search.settings
    objective = TrialObjective(search)
    proposer = search.strategy.proposer(
        study, search.space.vector_size, settings, directions, search.share_all_flops, seed
    )
    while spent(study) < settings.trials:
        if proposer is not None and not proposer.propose():
            time.sleep(1.0)
            continue
        if duplicates(study) > 10 * settings.trials + 50:
            log.warning(
                "%s: the sampler keeps proposing points already evaluated; the space holds "
                "fewer distinct points than search.study.trials=%d, so the search stops",
                search.out,
                settings.trials,
            )
            break
        run_trial(study, objective, sampler, search.out / ".study.lock")
