"""MGDA-UB (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS 2018):
the min-norm element of the convex hull of the task gradients, taken w.r.t. the shared
representation (Sec. 3.3, the upper bound), gives the weights α of Σ_t α_t L_t."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sharenas.weightings._gradients import (
    TaskGradients,
    average_grads,
    grad_scale,
    loss_values,
    present_tasks,
    world_size,
)
from sharenas.weightings._registry import register_weighting
from sharenas.weightings._simplex import minimize_on_simplex
from sharenas.weightings.base import GradientWeighting, Losses


class MGDAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    normalization: Literal["none", "l2", "loss", "loss+"] = Field(
        "none",
        description="Gradients divided before the solver (authors' code, not the paper): by "
        "their norm (l2), the loss (loss), both (loss+, the authors' sample config) or none "
        "(LibMTL's default, and ours: loss+ fell 0.36 Δ_MTL points below none on MultiMNIST, "
        "5 seeds, BENCHMARKS.md).",
    )
    upper_bound: bool = Field(
        True,
        description="Gradients w.r.t. the representation every task head reads (MGDA-UB) when "
        "the model has one; false: w.r.t. the shared parameters (plain MGDA).",
    )


def min_norm_pair(v11: float, v12: float, v22: float) -> float:
    """γ minimising ‖γ v1 + (1−γ) v2‖² over [0, 1] (the paper's Algorithm 1):
    γ = (v2 − v1)·v2 / ‖v1 − v2‖², clipped."""
    if v12 >= v11:
        return 1.0
    if v12 >= v22:
        return 0.0
    return (v22 - v12) / (v11 + v22 - 2 * v12)


def min_norm_weights(gram: torch.Tensor) -> torch.Tensor:
    """α on the simplex minimising αᵀ M α (M the Gram matrix of the gradients): the closed form
    for two tasks; for more, projected gradient descent from the best pair (the authors start
    there too)."""
    gram = gram.double().cpu()
    count = len(gram)
    best, start = float("inf"), torch.full((count,), 1.0 / count, dtype=torch.float64)
    for i in range(count):
        for j in range(i + 1, count):
            gamma = min_norm_pair(float(gram[i, i]), float(gram[i, j]), float(gram[j, j]))
            pair = torch.zeros(count, dtype=torch.float64)
            pair[i], pair[j] = gamma, 1 - gamma
            value = float(pair @ gram @ pair)
            if value < best:
                best, start = value, pair
    if count <= 2:
        return start
    return minimize_on_simplex(lambda a: a @ gram @ a, lambda a: 2 * gram @ a, start)


def normalizers(gram: torch.Tensor, values: torch.Tensor, kind: str) -> torch.Tensor:
    """Per task, what its gradient is divided by (the authors' ``gradient_normalizers``)."""
    norms = gram.diagonal().clamp(min=0).sqrt()
    by = {"none": torch.ones_like(norms), "l2": norms, "loss": values, "loss+": values * norms}
    return by[kind].clamp(min=1e-12)


@register_weighting
class MGDA(GradientWeighting):
    """α = argmin_{α ∈ simplex} ‖Σ_t α_t ∇_Z L_t‖² with Z the representation every task head
    reads, when the model has one (hard sharing: the backbone's output); then one backward of
    Σ_t α_t L_t, so task heads get α_t times their gradient, as in the authors' code. A model
    whose heads read different tensors (cross-stitch, MMoE, a routing supernet with several
    experts, a fusion network) has no such Z: then α comes from the gradients w.r.t. the shared
    parameters (plain MGDA, the paper's Sec. 3.2). Deviations from the authors' code: the
    min-norm solver (closed form for two tasks, without the authors' 0.001/0.999 clip at the
    ends; projected gradient descent for more), and α sums to 1 as theirs (the Nash-MTL
    authors' version multiplies it by the number of tasks)."""

    name = "mgda"
    Options = MGDAOptions
    options: MGDAOptions
    wants_features = True

    def solve(self, gram: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        norm = normalizers(gram.double().cpu(), values, self.options.normalization)
        return min_norm_weights(gram.double().cpu() / torch.outer(norm, norm))

    def combine(self, grads: TaskGradients) -> tuple[torch.Tensor | None, torch.Tensor]:
        shared = grads.shared()
        alpha = self.solve(shared @ shared.T, grads.values)
        return None, alpha

    def backward(
        self,
        losses: Losses,
        parameters: Sequence[nn.Parameter],
        scaler: torch.amp.GradScaler,
        features: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        representation = self.representation(losses, features)
        if representation is None:
            return super().backward(losses, parameters, scaler, features)
        tasks = present_tasks(self.tasks, losses, representation.device)
        gram = self.representation_gram(tasks, losses, representation, scaler)
        alpha = (
            self.solve(gram, loss_values(tasks, losses, representation.device))
            if bool(torch.isfinite(gram).all())
            else torch.ones(len(tasks), dtype=torch.float64)
        )
        self.remember(tasks, alpha)
        total = self(losses)
        scaler.scale(total).backward()
        average_grads(parameters)
        return total.detach()

    def representation(
        self, losses: Losses, features: Mapping[str, torch.Tensor] | None
    ) -> torch.Tensor | None:
        """Z: the one tensor every present task's head read; None when there is none or fewer
        than two tasks are present (then the base class's path), decided alike in every DDP
        process."""
        z = None
        inputs = [features.get(t) for t in losses] if features and self.options.upper_bound else []
        if inputs and inputs[0] is not None and all(x is inputs[0] for x in inputs):
            z = inputs[0] if inputs[0].requires_grad else None
        ok = z is not None and len(inputs) >= 2
        if world_size() > 1:
            device = next(iter(losses.values())).device if losses else torch.device("cpu")
            flag = torch.tensor([float(ok)], device=device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            ok = bool(flag.item() > 0)
        return z if ok else None

    @staticmethod
    def representation_gram(
        tasks: list[str], losses: Losses, z: torch.Tensor, scaler: torch.amp.GradScaler
    ) -> torch.Tensor:
        """Gram matrix of ∇_Z L_t over the present tasks, unscaled; under DDP summed over the
        processes (each holds its rows of Z, so the sum is the full batch's, up to a common
        factor that does not move the min-norm point)."""
        scale = grad_scale(scaler)
        anchor = next(iter(losses.values()))
        rows = []
        for task in tasks:  # a task only other processes hold: zero times a loss held here
            loss = losses[task] if task in losses else 0.0 * anchor
            (g,) = torch.autograd.grad(scaler.scale(loss), z, retain_graph=True)
            rows.append(g.reshape(-1).float() / scale)
        stacked = torch.stack(rows)
        gram = stacked @ stacked.T
        if world_size() > 1:
            dist.all_reduce(gram)
        return gram
