"""The loss-weighting contract (LibMTL style: a small abstract base, one method per file).

A weighting turns the per-task losses of a batch into the update of the network:

- ``forward({task: loss}) -> total``: the scalar objective (architecture and policy steps
  descend it; logging reports it);
- ``backward(losses, parameters, scaler, features) -> total``: leaves the gradients of a weight
  step in ``.grad`` (default: backward of the scaled ``forward``);
- ``epoch_end({task: mean training loss})``: after every training epoch;
- ``weights()``: the task weights of the history row.

Only the tasks present in ``losses`` count: a multi-domain batch holds one task, and a batch
whose rows carry no label of a task has no loss for it.

:class:`GradientWeighting` is the base of the methods that combine per-task gradients (PCGrad,
MGDA, CAGrad, Nash-MTL, GradNorm): the trainer runs their forward outside DDP's gradient
synchronisation, and they leave process-averaged gradients themselves.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from sharenas.weightings._gradients import TaskGradients, grad_scale, task_gradients

Losses = Mapping[str, torch.Tensor]


class NoOptions(BaseModel):
    """A weighting without options."""

    model_config = ConfigDict(extra="forbid")


class LossWeighting(nn.Module):
    """Per-task losses -> objective and gradients. A subclass sets ``name`` (the config's
    ``train.weighting``) and ``Options`` (the pydantic model of ``train.weighting_options``)."""

    name: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    #: The step's forward must run without DDP's gradient synchronisation (per-task gradients).
    per_task_gradients: ClassVar[bool] = False
    #: ``backward`` reads each task head's input (:func:`head_inputs`).
    wants_features: ClassVar[bool] = False

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__()
        self.tasks = list(tasks)
        self.options = options

    def weight_vector(self) -> torch.Tensor:
        """The current task weights, in ``self.tasks`` order (detached)."""
        return torch.ones(len(self.tasks))

    def weights(self) -> dict[str, float]:
        """The current weight of every task, by name (logged to the history)."""
        return {t: float(w) for t, w in zip(self.tasks, self.weight_vector(), strict=True)}

    def forward(self, losses: Losses) -> torch.Tensor:
        """Σ_t w_t L_t over the present tasks."""
        weights = self.weight_vector().tolist()
        total: Any = 0
        for w, task in zip(weights, self.tasks, strict=True):
            if task in losses:
                total = total + (losses[task] if w == 1.0 else w * losses[task])
        return total if isinstance(total, torch.Tensor) else torch.zeros(())

    def backward(
        self,
        losses: Losses,
        parameters: Sequence[nn.Parameter],
        scaler: torch.amp.GradScaler,
        features: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Gradients of a weight step in ``.grad`` (scaled as ``scaler`` scales); returns the
        objective's value."""
        total = self(losses)
        scaler.scale(total).backward()
        return total.detach()

    def epoch_end(self, train_loss_means: Mapping[str, float]) -> None:
        """After each training epoch, with every task's mean training loss (averaged over
        processes); tasks without a batch in the epoch are absent."""


class GradientWeighting(LossWeighting):
    """A method that combines the present tasks' gradients on the shared parameters (those
    reached by two or more tasks). Task-specific parameters get their task's gradient times the
    method's weight. With fewer than two tasks present, or a non-finite gradient (an fp16
    overflow, which the GradScaler then skips), the plain sum is written."""

    per_task_gradients = True

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.register_buffer("last_weights", torch.ones(len(tasks)))

    def weight_vector(self) -> torch.Tensor:
        """The weights of the last combination (ones before the first, or for a method that
        gives none): what ``forward`` weighs an architecture step's losses with."""
        return self.last_weights.detach().cpu()

    @abstractmethod
    def combine(self, grads: TaskGradients) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(direction on the shared coordinates or None for the weighted sum, per-task weights
        (tasks,)) from ``grads`` (unscaled, averaged over processes)."""

    def remember(self, tasks: list[str], weights: torch.Tensor) -> None:
        """Keep the weights a combination gave ``tasks`` (:meth:`weight_vector` returns them)."""
        for task, w in zip(tasks, weights.tolist(), strict=True):
            self.last_weights[self.tasks.index(task)] = w

    def backward(
        self,
        losses: Losses,
        parameters: Sequence[nn.Parameter],
        scaler: torch.amp.GradScaler,
        features: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """One backward per present task, the gradients combined by :meth:`combine` into ``.grad``;
        returns the weighted sum's value."""
        self.apply(task_gradients(self.tasks, losses, parameters, scaler), scaler)
        return self(losses).detach()

    def apply(self, grads: TaskGradients, scaler: torch.amp.GradScaler) -> None:
        """Combine ``grads`` and write ``.grad``."""
        if len(grads.tasks) < 2 or not grads.finite():
            ones = torch.ones(len(grads.tasks), dtype=torch.float64)
            grads.write(None, ones, grad_scale(scaler))
            return
        shared, weights = self.combine(grads)
        self.remember(grads.tasks, weights)
        grads.write(shared, weights, grad_scale(scaler))


@contextmanager
def head_inputs(model: nn.Module) -> Iterator[dict[str, Any]]:
    """Within the block, each task head's input as ``model`` computes it (keyed by task), for a
    model with a ``heads`` ModuleDict (every sharenas architecture has one)."""
    captured: dict[str, Any] = {}
    heads = getattr(getattr(model, "module", model), "heads", None)
    handles = []
    if isinstance(heads, nn.ModuleDict):
        for task, head in heads.items():

            def keep(module: nn.Module, args: tuple[Any, ...], task: str = task) -> None:
                captured[task] = args[0] if args else None

            handles.append(head.register_forward_pre_hook(keep))
    try:
        yield captured
    finally:
        for handle in handles:
            handle.remove()
