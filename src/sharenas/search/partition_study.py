"""The partition search as an Optuna study (Feature Partitioning, Newell et al., 2019).

A trial is a point of the partition space, a vector in [0, 1]^D. The objectives are each task's
validation primary metric (maximised or minimised by its direction) and the total FLOPs
(minimised), so the study's best trials form the Pareto front. The strategies that propose the
points (nsga2, random, es) are :class:`~sharenas.search.strategy.TrialStrategy` plug-ins.

The study lives in Optuna storage (SQLite in the search folder by default). A killed search
resumes where it stopped. Several workers, processes here or anywhere pointing at one
PostgreSQL, join one study. Heartbeats mark a killed worker's trial as failed, and its point is
enqueued again, so no trial is lost. Trial numbers decide which trials are part of the budget, so
none is evaluated twice and the budget is not overshot.

Queued points (the reference partitions, ES generations) carry a key. Workers coordinate through
the storage alone: when two enqueue the same key (both saw the same finished generation, which
determines the next one), only the lowest-numbered live trial of the key is evaluated; the
others are pruned as surplus. ES therefore needs no lock shared between machines.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from sharenas.errors import ConfigError

SURPLUS = "surplus"
OVER_BUDGET = "over_budget"
DUPLICATE = "duplicate_of"


def _optuna_logging() -> None:
    """Optuna's log lines through the application's logging: its INFO lines (a trial finished)
    only where the root logger shows INFO (``sharenas --verbose``), its warnings always."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    shown = logging.INFO if logging.getLogger().isEnabledFor(logging.INFO) else logging.WARNING
    optuna.logging.set_verbosity(shown)


def position(study: Any) -> int:
    """The position of the trial the next ask gives (the lowest-numbered waiting trial, else a
    new one): how many trials before it are not failed. A killed trial fails and is queued
    again, so its copy takes the killed trial's position, and every later trial the position
    it has in an uninterrupted study."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    waiting = [t.number for t in trials if t.state == TrialState.WAITING]
    below = min(waiting) if waiting else math.inf
    return sum(t.state != TrialState.FAIL and t.number < below for t in trials)


QUEUE_ATTRS = ("reference", "es_generation", "es_k", "es_sign", "es_centre")


class RetryKilledTrial:
    """Queue a killed trial (failed as heartbeat-stale) again, at most ``max_retry`` times. As
    Optuna's own retry, but its parameters are kept only when all were drawn (the trial got as
    far as its genotype, or they were queued): a trial killed half-way through drawing them is
    drawn again whole, so the sampler proposes what an uninterrupted study would."""

    def __init__(self, max_retry: int = 3) -> None:
        self.max_retry = max_retry

    def __call__(self, study: Any, trial: Any) -> None:
        import optuna

        history = [*trial.system_attrs.get("retry_history", []), trial.number]
        if len(history) > self.max_retry:
            return
        whole = "genotype" in trial.user_attrs or "fixed_params" in trial.system_attrs
        system = {k: v for k, v in trial.system_attrs.items() if whole or k != "fixed_params"}
        study.add_trial(
            optuna.create_trial(
                state=optuna.trial.TrialState.WAITING,
                params=dict(trial.params) if whole else {},
                distributions=dict(trial.distributions) if whole else {},
                user_attrs={k: v for k, v in trial.user_attrs.items() if k in QUEUE_ATTRS},
                system_attrs={**system, "failed_trial": trial.number, "retry_history": history},
            )
        )


def duplicates(study: Any) -> int:
    """How many trials were pruned because another trial holds their partition."""
    return sum(DUPLICATE in t.user_attrs for t in study.get_trials(deepcopy=False))


def open_study(
    storage: Any,
    name: str,
    directions: list[str],
    signature: dict[str, Any],
    sampler: Any,
) -> Any:
    """Create the study, or load it after checking it was made for the same search."""
    import optuna

    _optuna_logging()
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=directions,
        sampler=sampler,
        load_if_exists=True,
    )
    stored = study.user_attrs.get("signature")
    if stored is None:
        study.set_user_attr("signature", signature)
        # the objectives by name (task:direction, FLOPs), as Optuna's dashboard shows them
        study.set_metric_names([o.split(":")[0] for o in signature["objectives"]])
    elif stored != signature:
        differences = sorted(k for k in {*stored, *signature} if stored.get(k) != signature.get(k))
        raise ConfigError(
            f"study {name!r} in this storage was created for another search (different "
            f"{', '.join(differences)}); pass --study NAME for a new study, or the config that "
            "created it."
        )
    return study


def spent(study: Any, below: int | None = None) -> int:
    """Trials that count toward the budget: complete, or pruned as over the FLOPs budget
    (numbers below ``below`` only)."""
    from optuna.trial import TrialState

    count = 0
    for trial in study.get_trials(deepcopy=False):
        if below is not None and trial.number >= below:
            continue
        if (
            trial.state == TrialState.COMPLETE
            or trial.state == TrialState.RUNNING
            or (trial.state == TrialState.PRUNED and trial.user_attrs.get(OVER_BUDGET))
        ):
            count += 1
    return count


def scalar_score(
    values: list[float],
    directions: list[str],
    penalty: float,
    share_all: float,
    reference: list[float],
) -> float:
    """ES's objective: the mean over tasks of the signed relative change of the task's score
    against ``reference`` (higher is better; every task on one scale, as Δ_MTL) − penalty ×
    FLOPs / share-all FLOPs."""
    *scores, flops = values
    signed = [
        (v - r) / (abs(r) + 1e-12) * (1.0 if d == "maximize" else -1.0)
        for v, r, d in zip(scores, reference, directions, strict=False)
    ]
    return sum(signed) / len(signed) - penalty * flops / share_all


def queue_key(attrs: dict[str, Any]) -> tuple[Any, ...] | None:
    """The key of a queued point: its reference label or its ES (generation, direction, sign)."""
    if "reference" in attrs:
        return ("reference", attrs["reference"])
    if "es_generation" in attrs:
        return ("es", attrs["es_generation"], attrs["es_k"], attrs["es_sign"])
    return None


def _claims(trial: Any) -> bool:
    """Whether ``trial`` holds its key: waiting, running, complete, or over the FLOPs budget
    (not failed, not pruned as a surplus copy)."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE):
        return True
    return trial.state == TrialState.PRUNED and bool(trial.user_attrs.get(OVER_BUDGET))


def holders(trials: list[Any]) -> dict[tuple[Any, ...], Any]:
    """Per queue key, the trial that holds it (the lowest-numbered claiming one)."""
    held: dict[tuple[Any, ...], Any] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        key = queue_key(trial.user_attrs)
        if key is not None and key not in held and _claims(trial):
            held[key] = trial
    return held


def is_surplus_copy(study: Any, number: int, attrs: dict[str, Any]) -> bool:
    """Whether trial ``number`` is a copy of a queued point that a lower trial already holds."""
    key = queue_key(attrs)
    if key is None:
        return False
    return any(
        t.number < number and queue_key(t.user_attrs) == key and _claims(t)
        for t in study.get_trials(deepcopy=False)
    )


def trial_record(trial: Any) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": list(trial.values) if trial.values else None,
        "params": dict(trial.params),
        **{k: v for k, v in trial.user_attrs.items()},
    }


def dump_trials(study: Any, path: Path) -> None:
    from sharenas.cache import write_json_atomic

    write_json_atomic(path, [trial_record(t) for t in study.get_trials(deepcopy=False)])
