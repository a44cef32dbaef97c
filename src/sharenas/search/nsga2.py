"""NSGA-II over a study's points (Deb et al., 2002), Optuna's sampler: the FLOPs budget reaches it
as each trial's constraint (``Trial.set_constraint``), so points over the budget rank last."""

from __future__ import annotations

from typing import Any

from sharenas.search.registry import register_strategy
from sharenas.search.strategy import TrialStrategy


@register_strategy
class Nsga2Strategy(TrialStrategy):
    """Multi-objective evolution of the study's points (every task's score and the FLOPs)."""

    name = "nsga2"
    summary = "NSGA-II over the partitions (every task's score and the FLOPs)"

    def sampler(self, seed: int, settings: Any) -> Any:
        import optuna

        return optuna.samplers.NSGAIISampler(population_size=settings.population, seed=seed)
