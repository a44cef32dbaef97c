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
        """MSE, in standard units when the task carries its training statistics (each
        dimension's error divided by its standard deviation)."""
        prediction = prediction.reshape(target.shape)
        if self.spec.target_std is None:
            return F.mse_loss(prediction, target)
        std = torch.tensor(self.spec.target_std, device=target.device, dtype=target.dtype)
        std = std.reshape(1, -1) if target.dim() > 1 else std
        return F.mse_loss(prediction / std, target / std)

    def metric(self) -> Metric:
        return _Flat({"mse": MeanSquaredError(), "mae": MeanAbsoluteError()})

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor:
        """The training mean, in the units of the output layer (standard units: 0)."""
        mean = target.float().reshape(len(target), -1).mean(0)
        if self.spec.target_mean is None or self.spec.target_std is None:
            return mean
        return (mean - torch.tensor(self.spec.target_mean)) / torch.tensor(self.spec.target_std)

    def batch_primary(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        return float(F.mse_loss(prediction.reshape(target.shape).float(), target.float()))
