"""Random search (Li & Talwalkar 2019, "Random search and reproducibility for NAS"): points drawn
uniformly from the space (among those within the FLOPs budget). Over a supernet space they are
trained from scratch and the best on validation is delivered; over a study, Optuna's random
sampler proposes them."""

from __future__ import annotations

from typing import Any

from sharenas.search.registry import register_strategy
from sharenas.search.strategy import TrialStrategy


@register_strategy
class RandomStrategy(TrialStrategy):
    """Uniform draws, each point scored by the evaluator handed in."""

    name = "random"
    summary = "random search: the best on validation of the drawn architectures"

    def sampler(self, seed: int, settings: Any) -> Any:
        import optuna

        return optuna.samplers.RandomSampler(seed=seed)
