"""Fixed weights: Σ_t w_t L_t with the config's ``train.task_weights`` (1 for a task not named)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pydantic import BaseModel

from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import LossWeighting


@register_weighting
class FixedWeighting(LossWeighting):
    """Σ_t w_t L_t, w from ``train.task_weights``."""

    name = "fixed"

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.fixed = torch.tensor([float(task_weights.get(t, 1.0)) for t in tasks])

    def weight_vector(self) -> torch.Tensor:
        return self.fixed.clone()
