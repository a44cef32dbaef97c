"""Small ResNet (He et al., CVPR 2016): a 3×3 stem, then stages of basic residual blocks; every
stage after the first halves the resolution in its first block."""

from __future__ import annotations

import torch
from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone, StageSpec
from sharenas.data.base import InputSpec


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResnetBackbone(Backbone):
    def __init__(
        self,
        input_spec: InputSpec,
        channels: tuple[int, ...] = (32, 64, 128),
        blocks_per_stage: int = 2,
    ) -> None:
        super().__init__(input_spec)
        if input_spec.kind != "image":
            raise ValueError("the resnet backbone reads images; use mlp for tables")
        self.channels = tuple(channels)
        stem_channels = channels[0]
        self.stem = nn.Sequential(
            nn.Conv2d(input_spec.channels or 1, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
        )
        stages, cin, specs, stride = [], stem_channels, [], 1
        for i, cout in enumerate(channels):
            first = 1 if i == 0 else 2
            stride *= first
            blocks = [
                BasicBlock(cin if b == 0 else cout, cout, first if b == 0 else 1)
                for b in range(blocks_per_stage)
            ]
            stages.append(nn.Sequential(*blocks))
            specs.append(StageSpec(cout, stride))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.stage_specs = specs

    def describe(self) -> str:
        return "resnet " + "-".join(map(str, self.channels))


@register_backbone("resnet")
def resnet(input_spec: InputSpec, **params: object) -> Backbone:
    return ResnetBackbone(input_spec, **params)  # type: ignore[arg-type]
