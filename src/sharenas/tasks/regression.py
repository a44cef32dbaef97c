"""Regression: mean-squared-error loss; MSE (primary) and MAE."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric, MetricCollection
from torchmetrics.regression import MeanAbsoluteError, MeanSquaredError

from sharenas.tasks.base import TaskHandler, register_task_kind
from sharenas.tasks.spec import TaskKind


class _Flat(MetricCollection):
    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:  # type: ignore[override]
        super().update(prediction.reshape(target.shape).float(), target.float())


@register_task_kind
class RegressionTask(TaskHandler):
    kind = TaskKind.REGRESSION
    primary = "mse"
    directions = {"mse": False, "mae": False}

    def out_channels(self) -> int:
        return self.spec.dims

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(prediction.reshape(target.shape), target)

    def metric(self) -> Metric:
        return _Flat({"mse": MeanSquaredError(), "mae": MeanAbsoluteError()})

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor:
        return target.float().reshape(len(target), -1).mean(0)

    def batch_primary(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        return float(F.mse_loss(prediction.reshape(target.shape).float(), target.float()))
