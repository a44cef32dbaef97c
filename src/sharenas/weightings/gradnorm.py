"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for
Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018, Sec. 3.2, Eq. 1-2)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sharenas.weightings._gradients import TaskGradients, grad_scale
from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import GradientWeighting


class GradNormOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alpha: float = Field(
        1.5, ge=0, description="α, the restoring force (the paper's NYUv2 value; LibMTL's 1.5)."
    )


def gradnorm_weight_gradient(
    weights: torch.Tensor, norms: torch.Tensor, ratios: torch.Tensor, alpha: float
) -> torch.Tensor:
    """∂L_grad/∂w of L_grad = Σ_i |G_i − Ḡ r_i^α| (Eq. 2) with G_i = w_i ‖∇_W L_i‖ and the target
    Ḡ r_i^α a constant (Ḡ the mean G_i, r_i = L̃_i / mean L̃, L̃_i = L_i(t) / L_i(0)):
    sign(G_i − target_i) ‖∇_W L_i‖."""
    g = weights * norms
    relative = ratios / ratios.mean()
    target = g.mean() * relative**alpha
    return torch.sign(g - target) * norms


@register_weighting
class GradNorm(GradientWeighting):
    """Σ_i w_i L_i with learnable w (the trainer's weight optimiser steps them, on the gradient
    of Eq. 2, with the network's learning rate as in the paper), renormalised to Σ w_i = K
    before each use (the paper renormalises after each step). W: all shared parameters (as
    LibMTL; the paper takes the last shared layer). L_i(0): a task's loss at the first step it
    is present (the paper's t = 0; LibMTL waits an epoch). Weights are clamped at 1e-6 before
    the renormalisation so none turns negative (the paper does not say)."""

    name = "gradnorm"
    Options = GradNormOptions
    options: GradNormOptions

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.loss_weights = nn.Parameter(torch.ones(len(tasks)))
        self.register_buffer("initial_losses", torch.ones(len(tasks), dtype=torch.float64))
        self.register_buffer("seen", torch.zeros(len(tasks), dtype=torch.bool))
        self.pending = torch.zeros(len(tasks), dtype=torch.float64)  # ∂L_grad/∂w of the step

    def normalized(self) -> torch.Tensor:
        """w clamped positive and renormalised in place to sum to the number of tasks."""
        with torch.no_grad():
            w = self.loss_weights.clamp_(min=1e-6)
            w.mul_(len(self.tasks) / w.sum())
        return self.loss_weights.detach()

    def weight_vector(self) -> torch.Tensor:
        return self.normalized().cpu()

    def combine(self, grads: TaskGradients) -> tuple[torch.Tensor | None, torch.Tensor]:
        positions = [self.tasks.index(t) for t in grads.tasks]
        for i, value in zip(positions, grads.values.tolist(), strict=True):
            if not bool(self.seen[i]):
                self.initial_losses[i], self.seen[i] = value, True
        weights = self.normalized()[positions].double().cpu()
        norms = grads.shared().double().norm(dim=1).cpu()
        ratios = grads.values / self.initial_losses[positions].cpu().clamp(min=1e-12)
        step = gradnorm_weight_gradient(weights, norms, ratios, self.options.alpha)
        self.pending = torch.zeros(len(self.tasks), dtype=torch.float64)
        self.pending[positions] = step
        return None, weights

    def apply(self, grads: TaskGradients, scaler: torch.amp.GradScaler) -> None:
        """The network's gradients, then w's (scaled as the GradScaler expects)."""
        self.pending = torch.zeros(len(self.tasks), dtype=torch.float64)
        super().apply(grads, scaler)
        w = self.loss_weights
        w.grad = (self.pending * grad_scale(scaler)).to(w.device, w.dtype)
