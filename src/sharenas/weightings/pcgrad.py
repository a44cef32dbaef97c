"""PCGrad: projecting conflicting gradients (Yu, Kumar, Gupta, Levine, Hausman & Finn,
"Gradient Surgery for Multi-Task Learning", NeurIPS 2020, Algorithm 1)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pydantic import BaseModel

from sharenas.weightings._gradients import TaskGradients
from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import GradientWeighting

ORDER_SEED = 104_729


def project_conflicting(grads: torch.Tensor, order: list[list[int]]) -> torch.Tensor:
    """Σ_i g_i^PC, where g_i^PC starts at g_i and, for each other task j in ``order[i]``, loses
    its component along g_j whenever g_i^PC · g_j < 0: g_i^PC −= (g_i^PC · g_j / ‖g_j‖²) g_j."""
    projected = grads.clone()
    for i, others in enumerate(order):
        for j in others:
            dot = projected[i] @ grads[j]
            if dot < 0:
                projected[i] -= dot / (grads[j] @ grads[j]) * grads[j]
    return projected.sum(0)


@register_weighting
class PCGrad(GradientWeighting):
    """Algorithm 1 on the shared parameters (as LibMTL and the Nash-MTL authors' version of it:
    the paper projects the whole gradient, whose task-specific parts do not change the dot
    products but add to ‖g_j‖²); task-specific parameters get their task's gradient. The other
    tasks are visited in a random order drawn per step from a generator seeded by the step
    count (a buffer), so a run and its resumed copy, and every DDP process, draw the same."""

    name = "pcgrad"

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def order(self, count: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(ORDER_SEED + int(self.steps))
        self.steps += 1
        return [
            [j for j in torch.randperm(count, generator=generator).tolist() if j != i]
            for i in range(count)
        ]

    def combine(self, grads: TaskGradients) -> tuple[torch.Tensor | None, torch.Tensor]:
        shared = project_conflicting(grads.shared(), self.order(len(grads.tasks)))
        return shared, torch.ones(len(grads.tasks), dtype=torch.float64)
