"""The partitioned network of the partition space (Feature Partitioning, Newell et al., 2019).

One backbone. Stages before the first masked stage are shared. From the first masked stage on,
every task runs its own pass. Inside a masked stage, each layer's output channels outside the
task's mask are zeroed (after the layer's batch norm, when it has one). A task therefore reads,
and its loss trains, only the channels it uses. Each task has its head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sharenas.backbones import Backbone
from sharenas.errors import ConfigError
from sharenas.tasks import TaskHandler, make_head

WEIGHTED = (nn.Linear, nn.Conv2d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def mask_points(stage: nn.Module) -> list[tuple[nn.Module, nn.Module | None]]:
    """Per linear/conv layer of ``stage``: (the layer, the norm right after it or None)."""
    modules = [m for m in stage.modules() if not list(m.children())]
    points = []
    for i, module in enumerate(modules):
        if isinstance(module, WEIGHTED):
            after = modules[i + 1] if i + 1 < len(modules) else None
            points.append((module, after if isinstance(after, NORMS) else None))
    return points


def _width(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


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
            widths = {_width(layer) for layer, _ in mask_points(backbone.stages[stage])}
            if widths != {channels}:
                raise ConfigError(
                    f"stage {stage}'s layers have widths {sorted(widths)}; a masked stage needs "
                    f"every layer {channels} wide."
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
        self._task: int | None = None  # the task whose pass runs now (None: no masking)
        for stage in self.masked:
            for layer, norm in mask_points(backbone.stages[stage]):
                (norm or layer).register_forward_hook(self._hook(stage))

    def _hook(self, stage: int) -> Any:
        def apply(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor | None:
            if self._task is None:
                return None
            return self._masked(output, self.mask(stage, self._task))

        return apply

    def mask(self, stage: int, task: int) -> torch.Tensor:
        return getattr(self, f"mask{stage}")[task]

    @staticmethod
    def _masked(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (features.dim() - 2)
        return features * mask.reshape(shape)

    def task_features(self, shared: torch.Tensor, task: int, start: int) -> torch.Tensor:
        """Task ``task``'s pass through stages ``start``.. from ``shared`` features."""
        self._task = task
        try:
            h = shared
            for stage in self.backbone.stages[start:]:
                h = stage(h)
            return h
        finally:
            self._task = None

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        stages = self.backbone.stages
        h = self.backbone.stem(x)
        first = self.masked[0] if self.masked else len(stages)
        for stage in stages[:first]:
            h = stage(h)
        return {
            name: self.heads[name](self.task_features(h, t, first))
            for t, name in enumerate(self.task_names)
        }
