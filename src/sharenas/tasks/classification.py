"""Classification: cross-entropy loss, accuracy."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from sharenas.tasks.base import TaskHandler, register_task_kind
from sharenas.tasks.spec import TaskKind


def log_frequencies(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """log of each class's share of ``labels`` (a class never seen counts half an example)."""
    counts = torch.bincount(labels.long(), minlength=classes).float().clamp(min=0.5)
    return torch.log(counts / counts.sum())


@register_task_kind
class ClassificationTask(TaskHandler):
    kind = TaskKind.CLASSIFICATION
    primary = "accuracy"
    directions = {"accuracy": True}

    def out_channels(self) -> int:
        assert self.spec.num_classes is not None
        return self.spec.num_classes

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        """Class probabilities, (N, classes)."""
        return torch.softmax(output, dim=1)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(prediction, target)

    def metric(self) -> Metric:
        return MetricCollection(
            {"accuracy": MulticlassAccuracy(self.out_channels(), average="micro")}
        )

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor:
        return log_frequencies(target.reshape(-1), self.out_channels())

    def batch_primary(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        return float((prediction.argmax(1) == target).float().mean())
