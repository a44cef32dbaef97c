"""Encoder-decoder for dense tasks (SegNet-like, Badrinarayanan et al. 2017, without pooling
indices): encoder stages halve the resolution, decoder stages double it back, so the last stage
is at full resolution."""

from __future__ import annotations

from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone, StageSpec
from sharenas.backbones.cnn import conv_bn_relu
from sharenas.data.base import InputSpec


class EncDecBackbone(Backbone):
    def __init__(self, input_spec: InputSpec, channels: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__(input_spec)
        if input_spec.kind != "image":
            raise ValueError("the encdec backbone reads images; use mlp for tables")
        self.channels = tuple(channels)
        first = channels[0]
        self.stem = nn.Sequential(*conv_bn_relu(input_spec.channels or 1, first))
        stages, specs, cin, stride = [], [], first, 1
        for cout in channels[1:]:  # encoder: down-sample then convolve
            stages.append(
                nn.Sequential(*conv_bn_relu(cin, cout, stride=2), *conv_bn_relu(cout, cout))
            )
            stride *= 2
            specs.append(StageSpec(cout, stride))
            cin = cout
        for cout in reversed(channels[:-1]):  # decoder: up-sample then convolve
            stages.append(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                    *conv_bn_relu(cin, cout),
                    *conv_bn_relu(cout, cout),
                )
            )
            stride //= 2
            specs.append(StageSpec(cout, stride))
            cin = cout
        self.stages = nn.ModuleList(stages)
        self.stage_specs = specs

    def describe(self) -> str:
        return "encdec " + "-".join(map(str, self.channels))


@register_backbone("encdec")
def encdec(input_spec: InputSpec, **params: object) -> Backbone:
    return EncDecBackbone(input_spec, **params)  # type: ignore[arg-type]
