"""Stage-based backbones: a stem, then stages whose channels and strides are declared.

Every search space plugs into a backbone through its stages: ``stage_specs[i]``
gives the output channels of stage ``i`` and its stride relative to the input (1 for vectors).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sharenas.data.base import InputSpec


@dataclass(frozen=True)
class StageSpec:
    channels: int
    stride: int  # spatial down-sampling relative to the input; 1 for vectors
    size: tuple[int, int] | None = None  # the map's (height, width) when not input / stride


class Backbone(nn.Module):
    """``stem`` then ``stages``; ``forward`` returns the last stage's features."""

    stem: nn.Module
    stages: nn.ModuleList
    stage_specs: list[StageSpec]

    def __init__(self, input_spec: InputSpec) -> None:
        super().__init__()
        self.input_spec = input_spec

    def forward(self, x: Any) -> torch.Tensor:
        """The last stage's output: the stem, then every stage in order."""
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return h

    def stage_outputs(self, x: Any) -> list[torch.Tensor]:
        """Every stage's output, first to last (what fusion and partition networks read)."""
        h = self.stem(x)
        outputs = []
        for stage in self.stages:
            h = stage(h)
            outputs.append(h)
        return outputs

    def feature_shape(self, stage: int = -1) -> tuple[int, ...]:
        """Shape (without batch) of a stage's output."""
        spec = self.stage_specs[stage]
        if self.input_spec.kind == "tabular":
            return (spec.channels,)
        if spec.size is not None:
            return (spec.channels, *spec.size)
        assert self.input_spec.height is not None and self.input_spec.width is not None
        return (
            spec.channels,
            self.input_spec.height // spec.stride,
            self.input_spec.width // spec.stride,
        )

    @property
    def input_size(self) -> tuple[int, int] | None:
        """An image input's (height, width); None for tables."""
        if self.input_spec.kind != "image":
            return None
        assert self.input_spec.height is not None and self.input_spec.width is not None
        return (self.input_spec.height, self.input_spec.width)

    @abstractmethod
    def describe(self) -> str:
        """One line, e.g. ``cnn 32-64-128``."""
