"""Dynamic Weight Average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
Attention", CVPR 2019, Eq. 1)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import LossWeighting


class DWAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float = Field(2.0, gt=0, description="T of the softmax (the paper's 2).")


@register_weighting
class DWA(LossWeighting):
    """λ_k(t) = K exp(w_k(t−1)/T) / Σ_i exp(w_i(t−1)/T), w_k(t−1) = L_k(t−1) / L_k(t−2), L the
    mean training loss of an epoch; λ = 1 in the first two epochs (as in the authors' ``mtan``
    code and LibMTL). The last two epochs' means are buffers, so a checkpoint resumes exactly.
    A task without a batch in an epoch keeps its last mean (its ratio is then 1)."""

    name = "dwa"
    Options = DWAOptions
    options: DWAOptions

    def __init__(
        self, tasks: list[str], options: BaseModel, task_weights: Mapping[str, float]
    ) -> None:
        super().__init__(tasks, options, task_weights)
        self.register_buffer("epoch_means", torch.ones(2, len(tasks), dtype=torch.float64))
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))

    def weight_vector(self) -> torch.Tensor:
        if int(self.epochs_seen) < 2:
            return torch.ones(len(self.tasks))
        means = self.epoch_means.detach().cpu()
        ratio = means[1] / means[0].clamp(min=1e-12)
        return (len(self.tasks) * torch.softmax(ratio / self.options.temperature, 0)).float()

    def epoch_end(self, train_loss_means: Mapping[str, float]) -> None:
        last = self.epoch_means[1].clone()
        for i, task in enumerate(self.tasks):
            if task in train_loss_means:
                last[i] = float(train_loss_means[task])
        self.epoch_means[0] = self.epoch_means[1]
        self.epoch_means[1] = last
        self.epochs_seen += 1
