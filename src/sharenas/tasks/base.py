"""The behaviour of a task kind: output size, loss, metrics, primary metric and its direction.

One subclass per kind, registered by :class:`~sharenas.tasks.spec.TaskKind`
(LibMTL-style plug-ins); :func:`create_task_handler` builds the handler of a declared task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torchmetrics import Metric

from sharenas.tasks.spec import TaskKind, TaskSpec


class TaskHandler(ABC):
    """Loss and metrics of one declared task."""

    kind: ClassVar[TaskKind]
    primary: ClassVar[str]
    #: metric name -> True when higher is better
    directions: ClassVar[dict[str, bool]]

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    @property
    def name(self) -> str:
        """The task's name (its key in batches, predictions and metrics)."""
        return self.spec.name

    @property
    def higher_is_better(self) -> bool:
        """Whether the primary metric improves upwards (accuracy, AUC) or downwards (an error)."""
        return self.directions[self.primary]

    @abstractmethod
    def out_channels(self) -> int:
        """Channels (or features) the head must output."""

    @abstractmethod
    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of a batch."""

    @abstractmethod
    def metric(self) -> Metric:
        """A fresh accumulator; ``compute()`` returns ``{metric name: tensor}``."""

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        """The head's raw output as a prediction (probabilities, values, unit vectors): what
        ``predict`` and exported models return. The identity unless a kind overrides it."""
        return output

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor | None:
        """The output bias that predicts the training targets' prior with a zero input
        (``head_bias: prior``); None where no such constant exists."""
        return None

    def batch_primary(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        """The primary metric of one batch, as :meth:`metric` computes it (kinds override it
        with a direct computation where the accumulator's overhead matters: reward scoring)."""
        metric = self.metric().to(prediction.device)
        metric.update(prediction, target)
        return float(metric.compute()[self.primary])


_HANDLERS: dict[TaskKind, type[TaskHandler]] = {}


def register_task_kind(cls: type[TaskHandler]) -> type[TaskHandler]:
    """Class decorator: ``cls`` handles tasks of ``cls.kind`` (each kind's file registers it)."""
    _HANDLERS[cls.kind] = cls
    return cls


def create_task_handler(spec: TaskSpec) -> TaskHandler:
    """The handler (loss, metrics, head width) of a declared task, by its kind."""
    return _HANDLERS[spec.kind](spec)
