"""The partition search as an Optuna study (Feature Partitioning, Newell et al., 2019).

A trial is a point of the partition space, a vector in [0, 1]^D. The objectives are each task's
validation primary metric (maximised or minimised by its direction) and the total FLOPs
(minimised), so the study's best trials form the Pareto front. Strategies:

- ``random``: Optuna's random sampler;
- ``nsga2``: Optuna's NSGA-II sampler (Deb et al., 2002);
- ``es``: antithetic Gaussian perturbations of a centre θ, ARS style (Mania et al., 2018). Each
  generation proposes θ ± σ ε_k, k = 1..K, and scores each point by the mean signed task score
  − ``flops_penalty`` × FLOPs / share-all FLOPs. The b best directions are kept:
  θ ← θ + α / (b σ_R) Σ (r⁺ − r⁻) ε.

The study lives in Optuna storage (SQLite in the search folder by default). A killed search
resumes where it stopped. Several workers, processes here or anywhere pointing at one
PostgreSQL, join one study. Heartbeats mark a killed worker's trial as failed, and its point is
enqueued again, so no trial is lost. Trial numbers decide which trials are part of the budget, so
none is evaluated twice and the budget is not overshot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from sharenas.cache import file_lock
from sharenas.errors import ConfigError
from sharenas.search.partition_config import StudyConfig

SURPLUS = "surplus"
OVER_BUDGET = "over_budget"


def open_storage(url: str, heartbeat: int) -> Any:
    """Optuna RDB storage with heartbeats; a killed worker's trial is retried (3 times at most)."""
    import warnings

    import optuna
    from optuna import storages

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    retry = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)
    try:
        if retry is not None:  # optuna >= 4.9
            return storages.RDBStorage(
                url,
                heartbeat_interval=heartbeat,
                grace_period=3 * heartbeat,
                heartbeat_stale_trial_callback=retry(max_retry=3),
            )
        return storages.RDBStorage(
            url,
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            failed_trial_callback=storages.RetryFailedTrialCallback(max_retry=3),
        )
    except Exception as exc:  # sqlalchemy raises many kinds; all mean "cannot open"
        raise ConfigError(
            f"search.study.storage={url!r} cannot be opened ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}); give a reachable database URL such as "
            "sqlite:///runs/study.db or postgresql://user@host/db."
        ) from None


def open_study(
    storage: Any,
    name: str,
    directions: list[str],
    signature: dict[str, Any],
    sampler: Any,
) -> Any:
    """Create the study, or load it after checking it was made for the same search."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
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
    values: list[float], directions: list[str], penalty: float, share_all: float
) -> float:
    """ES's objective: mean signed task score − penalty × FLOPs / share-all FLOPs."""
    *scores, flops = values
    signed = [v if d == "maximize" else -v for v, d in zip(scores, directions, strict=False)]
    return sum(signed) / len(signed) - penalty * flops / share_all


class EvolutionProposer:
    """Keeps the ES centre and generation in the study and enqueues each generation's points."""

    def __init__(
        self,
        study: Any,
        size: int,
        settings: StudyConfig,
        directions: list[str],
        share_all_flops: float,
        lock: Path,
        seed: int,
    ) -> None:
        self.study, self.size, self.settings = study, size, settings
        self.directions, self.share_all_flops = directions, share_all_flops
        self.lock, self.seed = lock, seed

    def _generation_trials(self, generation: int) -> list[Any]:
        return [
            t
            for t in self.study.get_trials(deepcopy=False)
            if t.user_attrs.get("es_generation") == generation
        ]

    def _reward(self, trial: Any) -> float:
        from optuna.trial import TrialState

        if trial.state != TrialState.COMPLETE:
            return -math.inf
        return scalar_score(
            list(trial.values), self.directions, self.settings.flops_penalty, self.share_all_flops
        )

    def propose(self) -> bool:
        """Enqueue the next generation when the current one is finished; False while it runs."""
        from optuna.trial import TrialState

        with file_lock(self.lock):
            attrs = self.study.user_attrs
            generation = attrs.get("es_generation", -1)
            centre = torch.tensor(attrs.get("es_centre", [0.5] * self.size), dtype=torch.float64)
            pairs = self.settings.es_directions
            if generation >= 0:
                trials = self._generation_trials(generation)
                done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
                if len(done) < 2 * pairs:
                    waiting = any(t.state == TrialState.WAITING for t in trials)
                    return waiting
                directions = torch.tensor(attrs["es_directions"], dtype=torch.float64)
                rewards = {
                    (t.user_attrs["es_k"], t.user_attrs["es_sign"]): self._reward(t) for t in done
                }
                plus = torch.tensor([rewards[(k, 1)] for k in range(pairs)])
                minus = torch.tensor([rewards[(k, -1)] for k in range(pairs)])
                finite = torch.isfinite(plus) & torch.isfinite(minus)
                best = torch.maximum(plus, minus).nan_to_num(neginf=-1e9)
                keep = torch.argsort(best, descending=True)[: self.settings.es_keep]
                keep = keep[finite[keep]]
                if len(keep):
                    spread = torch.cat([plus[keep], minus[keep]]).std().clamp_min(1e-8)
                    step = ((plus[keep] - minus[keep])[:, None] * directions[keep]).sum(0)
                    centre = (centre + self.settings.es_step / (len(keep) * spread) * step).clamp(
                        0, 1
                    )
            generation += 1
            generator = torch.Generator().manual_seed(self.seed * 7919 + generation)
            directions = torch.randn(pairs, self.size, generator=generator, dtype=torch.float64)
            self.study.set_user_attr("es_generation", generation)
            self.study.set_user_attr("es_centre", centre.tolist())
            self.study.set_user_attr("es_directions", directions.tolist())
            for k in range(pairs):
                for sign in (1, -1):
                    point = (centre + sign * self.settings.es_sigma * directions[k]).clamp(0, 1)
                    self.study.enqueue_trial(
                        {f"v{i}": float(v) for i, v in enumerate(point)},
                        user_attrs={"es_generation": generation, "es_k": k, "es_sign": sign},
                    )
            return True


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
