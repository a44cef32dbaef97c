"""CAGrad: conflict-averse gradient descent (Liu, Liu, Jin, Stone & Liu, NeurIPS 2021, Eq. 2 and
its dual, Sec. 3.1)."""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.weightings._gradients import TaskGradients
from sharenas.weightings._registry import register_weighting
from sharenas.weightings._simplex import minimize_on_simplex
from sharenas.weightings.base import GradientWeighting


class CAGradOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    c: float = Field(
        0.4, ge=0, description="c of the conflict-averse ball (the authors' default 0.4)."
    )


def cagrad_direction(grads: torch.Tensor, c: float) -> torch.Tensor:
    """d = g0 + (√φ / ‖g_w‖) g_w with g0 the mean gradient, √φ = c‖g0‖ and w minimising
    g_wᵀ g0 + √φ ‖g_w‖ over the simplex (the dual of Eq. 2); returned as the authors do:
    divided by 1 + c² and multiplied by the number of tasks (the scale of the summed loss)."""
    count = len(grads)
    gram = (grads @ grads.T).double().cpu()
    g0_norm = float(gram.mean().clamp(min=0).sqrt())
    radius = c * g0_norm
    mean_row = gram.mean(1)  # M b with b = 1/K: the dot products g_i · g0

    def objective(w: torch.Tensor) -> torch.Tensor:
        return w @ mean_row + radius * (w @ gram @ w + 1e-12).sqrt()

    def gradient(w: torch.Tensor) -> torch.Tensor:
        return mean_row + radius * (gram @ w) / (w @ gram @ w + 1e-12).sqrt()

    start = torch.full((count,), 1.0 / count, dtype=torch.float64)
    w = minimize_on_simplex(objective, gradient, start).to(grads.device, grads.dtype)
    g_w = w @ grads
    direction = grads.mean(0) + radius / (g_w.norm() + 1e-12) * g_w
    return direction * count / (1 + c**2)


@register_weighting
class CAGrad(GradientWeighting):
    """The shared parameters step along the CAGrad direction (``c``: the ball's radius relative
    to ‖g0‖); task-specific parameters get their task's gradient, as in the authors' code.
    Deviation: the inner problem over the simplex is solved by projected gradient descent
    instead of SciPy's SLSQP."""

    name = "cagrad"
    Options = CAGradOptions
    options: CAGradOptions

    def combine(self, grads: TaskGradients) -> tuple[torch.Tensor | None, torch.Tensor]:
        shared = cagrad_direction(grads.shared(), self.options.c)
        return shared, torch.ones(len(grads.tasks), dtype=torch.float64)
