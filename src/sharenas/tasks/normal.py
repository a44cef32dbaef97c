"""Surface normals: cosine loss on valid pixels; angle error mean (primary), median and the share
of pixels within 11.25°, 22.5° and 30° (the NYUv2 protocol of Eigen & Fergus, 2015)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from sharenas.tasks.base import TaskHandler, register_task_kind
from sharenas.tasks.spec import TaskKind

THRESHOLDS = (11.25, 22.5, 30.0)


def angle_errors(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Angles (degrees) between predicted and target normals at valid pixels (target ≠ 0)."""
    valid = target.norm(dim=1) > 0
    cosine = F.cosine_similarity(prediction.float(), target.float(), dim=1, eps=1e-8)
    return torch.rad2deg(torch.acos(cosine[valid].clamp(-1.0, 1.0)))


class NormalMetrics(Metric):
    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("angles", default=[], dist_reduce_fx="cat")

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        self.angles.append(angle_errors(prediction, target))

    def compute(self) -> dict[str, torch.Tensor]:
        angles = dim_zero_cat(self.angles) if self.angles else torch.zeros(0)
        out = {"mean_angle": angles.mean(), "median_angle": angles.median()}
        for threshold in THRESHOLDS:
            out[f"within_{threshold:g}"] = (angles < threshold).float().mean()
        return out


@register_task_kind
class NormalTask(TaskHandler):
    kind = TaskKind.NORMAL
    primary = "mean_angle"
    directions = {
        "mean_angle": False,
        "median_angle": False,
        **{f"within_{t:g}": True for t in THRESHOLDS},
    }

    def out_channels(self) -> int:
        return 3

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        """Unit normals, (N, 3, H, W)."""
        return F.normalize(output, dim=1, eps=1e-8)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target.norm(dim=1) > 0
        cosine = F.cosine_similarity(prediction, target, dim=1, eps=1e-8)
        return (1 - cosine[valid]).mean() if valid.any() else prediction.sum() * 0

    def metric(self) -> Metric:
        return NormalMetrics()
