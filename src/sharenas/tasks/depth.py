"""Depth: L1 loss on valid pixels (target > 0); absolute (primary) and relative error."""

from __future__ import annotations

import torch
from torchmetrics import Metric

from sharenas.tasks.base import TaskHandler, register_task_kind
from sharenas.tasks.spec import TaskKind


class DepthMetrics(Metric):
    """Mean |d̂ − d| and mean |d̂ − d| / d over the valid pixels of a whole split."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("abs_sum", "rel_sum"):
            self.add_state(name, torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        valid = target > 0
        error = (prediction.float() - target.float()).abs()[valid]
        self.abs_sum += error.double().sum()
        self.rel_sum += (error / target.float()[valid]).double().sum()
        self.count += int(valid.sum())

    def compute(self) -> dict[str, torch.Tensor]:
        count = self.count.clamp(min=1)
        return {
            "abs_err": (self.abs_sum / count).float(),
            "rel_err": (self.rel_sum / count).float(),
        }


@register_task_kind
class DepthTask(TaskHandler):
    kind = TaskKind.DEPTH
    primary = "abs_err"
    directions = {"abs_err": False, "rel_err": False}

    def out_channels(self) -> int:
        return 1

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target > 0
        return (prediction - target).abs()[valid].mean() if valid.any() else prediction.sum() * 0

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor:
        """The mean depth of the valid pixels."""
        valid = target[target > 0].float()
        return valid.mean().reshape(1) if valid.numel() else torch.zeros(1)

    def metric(self) -> Metric:
        return DepthMetrics()
