"""Binary: logistic loss on one logit; AUC (primary) and log-loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics import Metric
from torchmetrics.classification import BinaryAUROC
from torchmetrics.functional.classification import binary_auroc

from sharenas.tasks.base import TaskHandler, register_task_kind
from sharenas.tasks.spec import TaskKind


class BinaryMetrics(Metric):
    """AUC (torchmetrics, exact) and mean log-loss of logits against 0/1 targets."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.auc = BinaryAUROC()
        self.add_state("log_loss_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, logits: torch.Tensor, target: torch.Tensor) -> None:
        logits, target = logits.reshape(-1).float(), target.reshape(-1).float()
        self.auc.update(logits.sigmoid(), target.long())
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
        self.log_loss_sum += loss.double()
        self.count += target.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        return {"auc": self.auc.compute(), "logloss": (self.log_loss_sum / self.count).float()}

    def reset(self) -> None:
        super().reset()
        self.auc.reset()


@register_task_kind
class BinaryTask(TaskHandler):
    kind = TaskKind.BINARY
    primary = "auc"
    directions = {"auc": True, "logloss": False}

    def out_channels(self) -> int:
        return 1

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        """The probability of the positive class."""
        return torch.sigmoid(output)

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(prediction.reshape(-1), target.reshape(-1))

    def metric(self) -> Metric:
        return BinaryMetrics()

    def prior_bias(self, target: torch.Tensor) -> torch.Tensor:
        """log(p / (1 − p)) of the positive rate p (clamped away from 0 and 1)."""
        p = target.float().mean().clamp(1e-4, 1 - 1e-4)
        return torch.log(p / (1 - p)).reshape(1)

    def batch_primary(self, prediction: torch.Tensor, target: torch.Tensor) -> float:
        scores, labels = prediction.reshape(-1).float().sigmoid(), target.reshape(-1).long()
        return float(binary_auroc(scores, labels, validate_args=False))
