"""Loss weighting: how per-task losses become one objective (LibMTL-style plug-ins)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class LossWeighting(nn.Module):
    """``forward({task: loss}) -> total loss``; may hold learnable parameters."""

    def __init__(self, tasks: list[str]) -> None:
        super().__init__()
        self.tasks = tasks

    def weights(self) -> dict[str, float]:
        return dict.fromkeys(self.tasks, 1.0)


class EqualWeighting(LossWeighting):
    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(losses[t] for t in self.tasks if t in losses)  # type: ignore[return-value]


class FixedWeighting(LossWeighting):
    def __init__(self, tasks: list[str], task_weights: Mapping[str, float]) -> None:
        super().__init__(tasks)
        self.fixed = {t: float(task_weights.get(t, 1.0)) for t in tasks}

    def weights(self) -> dict[str, float]:
        return dict(self.fixed)

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.fixed[t] * losses[t] for t in self.tasks if t in losses)  # type: ignore[return-value]


class UncertaintyWeighting(LossWeighting):
    """Homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018, Eq. 7), in the common form
    Σ_t exp(−s_t)·L_t + s_t with s_t = log σ_t² learned jointly with the network."""

    def __init__(self, tasks: list[str]) -> None:
        super().__init__(tasks)
        self.log_variance = nn.Parameter(torch.zeros(len(tasks)))

    def weights(self) -> dict[str, float]:
        return {
            t: float(torch.exp(-s.detach()))
            for t, s in zip(self.tasks, self.log_variance, strict=True)
        }

    def forward(self, losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = self.log_variance.new_zeros(())
        for t, s in zip(self.tasks, self.log_variance, strict=True):
            if t in losses:  # a multi-domain batch holds one task
                total = total + torch.exp(-s) * losses[t] + s
        return total


def create_weighting(
    name: str, tasks: list[str], task_weights: Mapping[str, float] | None = None
) -> LossWeighting:
    if name == "equal":
        return EqualWeighting(tasks)
    if name == "fixed":
        return FixedWeighting(tasks, task_weights or {})
    if name == "uncertainty":
        return UncertaintyWeighting(tasks)
    raise ValueError(f"unknown loss weighting {name!r}")
