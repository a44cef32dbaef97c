"""The partitioned network of the partition space (Feature Partitioning, Newell et al., 2019).

One backbone. Stages before the first masked stage are shared. The first masked stage reads the
shared features; from there every task follows its own path: after each masked stage ``s`` task
t keeps only the channels of its mask ``masks[s][t]`` (zeros elsewhere), so a task's loss trains
only the channels it uses. Each task has its head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sharenas.backbones import Backbone
from sharenas.errors import ConfigError
from sharenas.tasks import TaskHandler, make_head


class PartitionNetwork(nn.Module):
    def __init__(
        self,
        tasks: list[TaskHandler],
        backbone: Backbone,
        masks: dict[int, torch.Tensor],
        tower: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.backbone = backbone
        stages = len(backbone.stages)
        for stage, mask in masks.items():
            if not 0 <= stage < stages:
                raise ConfigError(
                    f"masked stage {stage} does not exist; the backbone has stages 0..{stages - 1}."
                )
            channels = backbone.stage_specs[stage].channels
            if tuple(mask.shape) != (len(tasks), channels):
                raise ConfigError(
                    f"the mask of stage {stage} has shape {tuple(mask.shape)}; expected "
                    f"({len(tasks)} tasks, {channels} channels)."
                )
        self.masked = sorted(masks)
        for stage in self.masked:
            self.register_buffer(f"mask{stage}", masks[stage].to(torch.float32))
        self.heads = nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec, t.out_channels(), backbone.feature_shape(), backbone.input_size, tower
                )
                for t in tasks
            }
        )

    def mask(self, stage: int, task: int) -> torch.Tensor:
        return getattr(self, f"mask{stage}")[task]

    @staticmethod
    def _masked(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (features.dim() - 2)
        return features * mask.reshape(shape)

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        stages = self.backbone.stages
        h = self.backbone.stem(x)
        first = self.masked[0] if self.masked else len(stages)
        for stage in stages[:first]:
            h = stage(h)
        if first == len(stages):
            return {name: self.heads[name](h) for name in self.task_names}
        shared = stages[first](h)  # the first masked stage reads shared features
        result = {}
        for t, name in enumerate(self.task_names):
            own = self._masked(shared, self.mask(first, t))
            for s in range(first + 1, len(stages)):
                own = stages[s](own)
                if s in self.masked:
                    own = self._masked(own, self.mask(s, t))
            result[name] = self.heads[name](own)
        return result
