"""Multi-task models: an input goes in, ``{task: prediction}`` comes out.

Hand-designed architectures are registered by name (timm style) and built from the task handlers,
the input declaration and the model config. Each file holds one architecture and cites its paper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sharenas.backbones import Backbone, create_backbone
from sharenas.data.base import InputSpec
from sharenas.tasks import TaskHandler, make_head

if TYPE_CHECKING:
    from sharenas.architectures.config import ModelConfig


class MultiTaskModel(nn.Module):
    """Base class: ``forward(x) -> {task: prediction}``."""

    def __init__(self, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig):
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.input_spec = input_spec
        self.config = config

    def new_backbone(self) -> Backbone:
        """A fresh backbone, as the model config's ``backbone`` section describes it."""
        params = self.config.backbone.model_dump(exclude={"name"})
        return create_backbone(self.config.backbone.name, self.input_spec, **params)

    def new_heads(
        self,
        tasks: list[TaskHandler],
        backbone: Backbone,
        feature_shape: tuple[int, ...] | None = None,
    ) -> nn.ModuleDict:
        """One head per task on features of ``feature_shape`` (default: the backbone's output), with
        the config's tower: a ``ModuleDict`` by task name."""
        shape = feature_shape or backbone.feature_shape()
        return nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec,
                    t.out_channels(),
                    shape,
                    backbone.input_size,
                    self.config.tower_spec(),
                )
                for t in tasks
            }
        )

    def forward(self, x: Any) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """Every computed task's prediction for ``x``, by task name; a subclass defines it."""
        raise TypeError(f"{type(self).__name__} does not define forward")


class PerTaskBackbones(MultiTaskModel):
    """One backbone per task; after stage ``i`` the tasks' features pass through
    :meth:`exchange` (cross-stitch units, NDDR layers…), then each task's head."""

    def __init__(self, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig):
        super().__init__(tasks, input_spec, config)
        self.backbones = nn.ModuleList(self.new_backbone() for _ in tasks)
        self.heads = self.new_heads(tasks, self.backbones[0])

    def exchange(self, stage: int, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The tasks' features after ``stage``; the default shares nothing."""
        return features

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        """Every task's prediction: each task's backbone stage by stage, the features exchanged
        after every stage (:meth:`exchange`), then each task's head."""
        h = [backbone.stem(x) for backbone in self.backbones]
        for i in range(len(self.backbones[0].stages)):
            h = [backbone.stages[i](f) for backbone, f in zip(self.backbones, h, strict=True)]
            h = self.exchange(i, h)
        return {name: self.heads[name](f) for name, f in zip(self.task_names, h, strict=True)}
