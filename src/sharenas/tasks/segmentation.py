"""Semantic segmentation: pixel-wise cross-entropy; mIoU (primary) and pixel accuracy.

mIoU is the mean over classes of intersection ÷ union over the whole split, counting only classes
that occur in the prediction or the target; pixels labelled ``ignore_index`` are left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassJaccardIndex

from sharenas.tasks.base import TaskHandler, register_task_kind
from sharenas.tasks.classification import log_frequencies
from sharenas.tasks.spec import TaskKind


class _FromLogits(MetricCollection):
    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
        super().update(logits.argmax(1), target)


@register_task_kind
class SegmentationTask(TaskHandler):
    kind = TaskKind.SEGMENTATION
    primary = "miou"
    directions = {"miou": True, "pixel_acc": True}

    def out_channels(self) -> int:
        assert self.spec.num_classes is not None
        return self.spec.num_classes

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        """Per-pixel class probabilities, (N, classes, H, W)."""
        return torch.softmax(output, dim=1)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ignore = self.spec.ignore_index if self.spec.ignore_index is not None else -100
        return F.cross_entropy(prediction, target, ignore_index=ignore)

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor:
        labels = target.reshape(-1)
        if self.spec.ignore_index is not None:
            labels = labels[labels != self.spec.ignore_index]
        return log_frequencies(labels, self.out_channels())

    def metric(self) -> Metric:
        n, ignore = self.out_channels(), self.spec.ignore_index
        return _FromLogits(
            {
                "miou": MulticlassJaccardIndex(n, average="macro", ignore_index=ignore),
                "pixel_acc": MulticlassAccuracy(n, average="micro", ignore_index=ignore),
            }
        )
