"""VGG-style CNN (Simonyan & Zisserman, 2015): stages of 3×3 conv-BN-ReLU, each ending in 2×2
max-pooling."""

from __future__ import annotations

from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone, StageSpec
from sharenas.data.base import InputSpec


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class CnnBackbone(Backbone):
    def __init__(
        self,
        input_spec: InputSpec,
        channels: tuple[int, ...] = (32, 64, 128),
        convs_per_stage: int = 2,
    ) -> None:
        super().__init__(input_spec)
        if input_spec.kind != "image":
            raise ValueError("the cnn backbone reads images; use mlp for tables")
        self.channels = tuple(channels)
        self.stem = nn.Identity()
        stages, cin, stride = [], input_spec.channels or 1, 1
        for cout in channels:
            layers: list[nn.Module] = []
            for _ in range(convs_per_stage):
                layers += conv_bn_relu(cin, cout)
                cin = cout
            layers.append(nn.MaxPool2d(2))
            stride *= 2
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.stage_specs = [StageSpec(c, 2 ** (i + 1)) for i, c in enumerate(channels)]

    def describe(self) -> str:
        return "cnn " + "-".join(map(str, self.channels))


@register_backbone("cnn")
def cnn(input_spec: InputSpec, **params: object) -> Backbone:
    return CnnBackbone(input_spec, **params)  # type: ignore[arg-type]
