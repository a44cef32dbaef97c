"""LeNet-style CNN (LeCun et al., 1998), the MultiMNIST encoder of Sener & Koltun (NeurIPS 2018)
that LibMTL's recipe uses: stages of a k×k convolution without padding, 2×2 max-pooling and
ReLU, then a fully connected stage. That stage is a convolution spanning the whole last map (the
same weights and FLOPs as a linear layer on the flattened map), so every stage is a feature map
and the fusion, routing and partition spaces plug into it like any CNN."""

from __future__ import annotations

from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone, StageSpec
from sharenas.data.base import InputSpec


class LeNetBackbone(Backbone):
    def __init__(
        self,
        input_spec: InputSpec,
        channels: tuple[int, ...] = (10, 20),
        kernel: int = 5,
        fc: int = 50,
    ) -> None:
        super().__init__(input_spec)
        if input_spec.kind != "image":
            raise ValueError("the lenet backbone reads images; use mlp for tables")
        assert input_spec.height is not None and input_spec.width is not None
        self.channels, self.kernel, self.fc = tuple(channels), kernel, fc
        self.stem = nn.Identity()
        height, width, cin = input_spec.height, input_spec.width, input_spec.channels or 1
        stages, specs = [], []
        for cout in channels:
            height, width = (height - kernel + 1) // 2, (width - kernel + 1) // 2
            if height < 1 or width < 1:
                raise ValueError(
                    f"a {input_spec.height}×{input_spec.width} input is too small for "
                    f"{len(channels)} lenet stages of kernel {kernel}; use fewer channels "
                    "entries or a smaller kernel"
                )
            stages.append(nn.Sequential(nn.Conv2d(cin, cout, kernel), nn.MaxPool2d(2), nn.ReLU()))
            specs.append(StageSpec(cout, input_spec.height // height, (height, width)))
            cin = cout
        stages.append(nn.Sequential(nn.Conv2d(cin, fc, (height, width)), nn.ReLU()))
        specs.append(StageSpec(fc, input_spec.height, (1, 1)))
        self.stages = nn.ModuleList(stages)
        self.stage_specs = specs

    def describe(self) -> str:
        return f"lenet {'-'.join(map(str, self.channels))} k{self.kernel} fc{self.fc}"


@register_backbone("lenet")
def lenet(input_spec: InputSpec, **params: object) -> Backbone:
    return LeNetBackbone(input_spec, **params)  # type: ignore[arg-type]
