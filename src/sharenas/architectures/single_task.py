"""Single-task learning: one backbone and head per task, nothing shared (the Δ_MTL reference)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sharenas.architectures._registry import register_architecture
from sharenas.architectures.base import MultiTaskModel


@register_architecture("single-task")
class SingleTask(MultiTaskModel):
    def __init__(self, tasks, input_spec, config) -> None:  # type: ignore[no-untyped-def]
        super().__init__(tasks, input_spec, config)
        self.backbones = nn.ModuleDict({t.name: self.new_backbone() for t in tasks})
        self.heads = nn.ModuleDict(
            {t.name: self.new_heads([t], self.backbones[t.name])[t.name] for t in tasks}
        )
        self.active_tasks: list[str] | None = None  # see sharenas.engine.task_subset

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        names = self.active_tasks or self.task_names
        return {name: self.heads[name](self.backbones[name](x)) for name in names}
