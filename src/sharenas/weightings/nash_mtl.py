"""Nash-MTL (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik & Fetaya, "Multi-Task Learning
as a Bargaining Game", ICML 2022): the Nash bargaining solution α of GᵀG α = 1/α (Eq. 3),
the update Σ_t α_t g_t."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sharenas.weightings._gradients import (
    TaskGradients,
    average_grads,
    grad_scale,
    task_gradients,
)
from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import GradientWeighting, Losses


class NashMTLOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    update_weights_every: int = Field(
        1, ge=1, description="Solve for α every this many steps (the authors' default 1)."
    )
    max_norm: float = Field(
        1.0, ge=0, description="Clip the shared gradient's norm to this (0: no clipping)."
    )
    iterations: int = Field(50, ge=1, description="Newton iterations of the α solve.")


def _objective(gram: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    return 0.5 * beta @ gram @ beta - beta.log().sum()


def bargaining_weights(
    gram: torch.Tensor, start: torch.Tensor, iterations: int = 50
) -> torch.Tensor:
    """α > 0 with M α = 1/α (M = GᵀG); NaNs when none is found (a singular M can leave the
    problem unbounded). M is divided by its Frobenius norm ν first (the authors condition
    theirs so), and the solution β of the scaled problem gives α = β / √ν. β minimises
    ½ βᵀ M̃ β − Σ log β_i, strictly convex with that stationarity condition; damped Newton
    steps (backtracking to stay positive and to decrease the objective) from ``start`` (the
    last α) solve it."""
    gram = gram.double().cpu()
    scale = float(torch.linalg.matrix_norm(gram))
    if not scale > 0:
        return torch.full((len(gram),), float("nan"), dtype=torch.float64)
    scaled = gram / scale
    beta = (start.double().cpu() * scale**0.5).clamp(min=1e-6)
    for _ in range(iterations):
        residual = scaled @ beta - 1 / beta
        if float(residual.norm()) < 1e-10:
            break
        hessian = scaled + torch.diag(1 / beta**2)
        step = -torch.linalg.solve(hessian, residual)
        t, value = 1.0, _objective(scaled, beta)
        while t > 1e-12:
            candidate = beta + t * step
            if bool((candidate > 0).all()) and _objective(scaled, candidate) <= value + 0.25 * t * (
                residual @ step
            ):
                break
            t /= 2
        beta = beta + t * step
    converged = float((scaled @ beta - 1 / beta).norm()) < 1e-6
    return beta / scale**0.5 if converged else torch.full_like(beta, float("nan"))


@register_weighting
class NashMTL(GradientWeighting):
    """Σ_t α_t L_t with α the bargaining solution on the shared parameters' gradients, solved
    every ``update_weights_every`` steps (the last α reused in between, and when no solution is
    found, as the authors do); task-specific parameters get α_t times their gradient; the shared
    gradient's norm is clipped to ``max_norm``. Deviation: the authors solve for α with cvxpy
    (a sequence of convex approximations of their Eq. 5); here damped Newton on the convex
    problem min ½ αᵀ GᵀG α − Σ log α_t, whose stationary point is GᵀG α = 1/α (no cvxpy or
    SciPy)."""

    name = "nash_mtl"
    Options = NashMTLOptions
    options: NashMTLOptions

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.shared_ids: set[int] | None = None  # shared parameters at the last solve

    def combine(self, grads: TaskGradients) -> tuple[torch.Tensor | None, torch.Tensor]:
        positions = [self.tasks.index(t) for t in grads.tasks]
        previous = self.last_weights[positions].double().cpu()
        shared = grads.shared()
        alpha = bargaining_weights(shared @ shared.T, previous, self.options.iterations)
        if not bool(torch.isfinite(alpha).all()):
            alpha = previous
        direction = alpha.to(shared.device, shared.dtype) @ shared
        norm = float(direction.norm())
        if self.options.max_norm > 0 and norm > self.options.max_norm:
            direction = direction * (self.options.max_norm / (norm + 1e-6))
        return direction, alpha

    def backward(
        self,
        losses: Losses,
        parameters: Sequence[nn.Parameter],
        scaler: torch.amp.GradScaler,
        features: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        solve = int(self.steps) % self.options.update_weights_every == 0
        self.steps += 1
        if solve or self.shared_ids is None:  # (a run resumed between solves: which are shared)
            grads = task_gradients(self.tasks, losses, parameters, scaler, keep_graph=not solve)
            shared = grads.shared_params.tolist()
            self.shared_ids = {id(p) for p, s in zip(grads.params, shared, strict=True) if s}
            if solve:
                self.apply(grads, scaler)
                return self(losses).detach()
        total = self(losses)  # between solves: one backward of Σ α_t L_t with the last α
        scaler.scale(total).backward()
        average_grads(parameters)
        self.clip([p for p in parameters if id(p) in self.shared_ids], grad_scale(scaler))
        return total.detach()

    def clip(self, shared: list[nn.Parameter], scale: float) -> None:
        """The shared gradient's (unscaled) norm down to ``max_norm``."""
        grads = [p.grad for p in shared if p.grad is not None]
        if self.options.max_norm <= 0 or not grads:
            return
        norm = float(torch.stack([g.float().norm() for g in grads]).norm()) / scale
        if math.isfinite(norm) and norm > self.options.max_norm:
            for g in grads:
                g.mul_(self.options.max_norm / (norm + 1e-6))
