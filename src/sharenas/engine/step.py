"""The step contract: what a training method adds to the trainer's one loop.

The :class:`~sharenas.engine.trainer.Trainer` owns the loop (device, AMP, DDP, progress, history,
checkpoint and exact resume, early stopping, TensorBoard, the NaN guard). A method is a
:class:`TrainingStep`: its optimisers, the batches of an epoch, what one step does with a batch,
its per-epoch record and its checkpoint state. Plain training is :class:`PlainStep`; the searches
(fusion gradient, REINFORCE, Gumbel) are steps of their own in ``sharenas.search``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from sharenas.engine.trainer import Trainer


@dataclass(frozen=True)
class StepInfo:
    """Where a step is in the run."""

    epoch: int
    step: int  # within the epoch
    global_step: int
    total_steps: int


class TrainingStep(ABC):
    """One method over the trainer's loop.

    ``attach`` is called once by the trainer, which then owns the model (on its device, wrapped
    for DDP as ``trainer.train_model``), the loss weighting and the helpers that every step uses:
    ``load``; ``task_losses`` and ``weighted_update`` for a weight step (the loss weighting makes
    the gradients); ``loss`` and ``update`` for a step that descends the weighted total.
    """

    #: DDP: some parameters get no gradient in a step (a sampled route), so DDP must look for them.
    unused_parameters: bool = False
    #: Restore the best-validation weights at the end (a search keeps its last state instead).
    keep_best: bool = True
    #: What the progress display says is training.
    label: str = "train"

    trainer: Trainer

    def attach(self, trainer: Trainer) -> None:
        """Called once, before any state is restored: create the optimisers here."""
        self.trainer = trainer

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Named optimisers; ``"weights"`` is the one the learning-rate schedule drives."""

    def batches(self, epoch: int) -> list[Any]:
        """The epoch's batches: a function of (seed, epoch) only, so a resumed run sees them."""
        t = self.trainer
        return t.data.train.batches(t.config.batch_size, t.seed, epoch, t.config.max_batches)

    def start_epoch(self, epoch: int) -> None:  # noqa: B027  (optional hook)
        """Before the epoch's first step."""

    @abstractmethod
    def step(self, batch: Any, info: StepInfo) -> dict[str, float]:
        """One step on ``batch``: the per-task loss values, and any other scalar to average."""

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """After the epoch's last step, before validation: columns of the history row."""
        return {}

    def score(self, split: Any) -> dict[str, dict[str, float]] | None:
        """The metrics that select the best epoch and that validation reports, when the method
        scores differently from the model's own outputs (a distilled student); None: the
        trainer evaluates the model."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must hold beyond the model and the optimisers."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:  # noqa: B027  (optional hook)
        """Restore :meth:`state_dict`."""


class PlainStep(TrainingStep):
    """Plain multi-task training: the loss weighting's update of the task losses, one optimiser
    step."""

    def attach(self, trainer: Trainer) -> None:
        """One optimiser over the model's and the loss weighting's parameters."""
        super().attach(trainer)
        params = [*trainer.model.parameters(), *trainer.weighting.parameters()]
        self.optimizer = trainer.create_optimizer(params)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The one optimiser, as ``weights`` (the one the schedule drives)."""
        return {"weights": self.optimizer}

    def step(self, batch: Any, info: StepInfo) -> dict[str, float]:
        """The task losses of ``batch`` and one update through the loss weighting."""
        x, y = self.trainer.load(self.trainer.data.train, batch)
        losses, values = self.trainer.task_losses(self.trainer.train_model, x, y, info)
        self.trainer.weighted_update(losses, self.optimizer)
        return values
