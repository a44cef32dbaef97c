"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018, Eq. 7)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pydantic import BaseModel
from torch import nn

from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import Losses, LossWeighting


@register_weighting
class UncertaintyWeighting(LossWeighting):
    """In the common form Σ_t exp(−s_t)·L_t + s_t with s_t = log σ_t² learned jointly with the
    network (the trainer's weight optimiser holds s)."""

    name = "uncertainty"

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.log_variance = nn.Parameter(torch.zeros(len(tasks)))

    def weight_vector(self) -> torch.Tensor:
        return torch.exp(-self.log_variance.detach()).cpu()

    def forward(self, losses: Losses) -> torch.Tensor:
        total = self.log_variance.new_zeros(())
        for t, s in zip(self.tasks, self.log_variance, strict=True):
            if t in losses:  # a multi-domain batch holds one task
                total = total + torch.exp(-s) * losses[t] + s
        return total
