"""torchvision's ResNet (He et al., 2016; ResNeXt, Wide ResNet), MobileNet (v2, Sandler et al.,
2018; v3, Howard et al., 2019) and VGG (Simonyan & Zisserman, 2015) networks as stage-based
backbones, cut at their down-sampling points (one stage per resolution, as timm's
``features_only``):

- ResNet: ``conv1·bn1·relu`` (reduction 2), ``maxpool·layer1`` (4), ``layer2`` … ``layer4``;
- MobileNet: ``features`` cut before each block that down-samples, so a stage ends with the
  last block of its resolution (the final 1×1 convolution closes the last stage);
- VGG: ``features`` cut after each max-pooling, a stage being its convolutions and their pool.

Weights go into the whole network before it is cut, so torchvision's checkpoints load key for
key: ``pretrained`` uses torchvision's own download (its ``DEFAULT`` weights, the file's hash
checked), ``weights`` a local file read as tensors only.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone
from sharenas.backbones.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PROBE,
    PretrainedBackbone,
    check_image_input,
    load_state,
    load_weights_file,
    require,
    skipping_weights,
    weights_source,
)
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError

KEY = "model.backbone (name: torchvision)"
FAMILIES = ("resnet", "resnext", "wide_resnet", "mobilenet_v2", "mobilenet_v3", "vgg")


def _network(torchvision: Any, model: str, pretrained: bool) -> nn.Module:
    """The whole classifier, with torchvision's DEFAULT ImageNet weights when ``pretrained``."""
    known = [
        m for m in torchvision.models.list_models(torchvision.models) if m.startswith(FAMILIES)
    ]
    if model not in known:
        raise ConfigError(
            f"model.backbone.model: {model!r} is not one of torchvision's ResNet, MobileNet or "
            f"VGG networks ({', '.join(sorted(known))}); other networks: name: timm."
        )
    network = torchvision.models.get_model(model, weights=None)
    if pretrained:
        weights = torchvision.models.get_model_weights(model).DEFAULT
        try:
            state = weights.get_state_dict(progress=False, check_hash=True, weights_only=True)
        except Exception as exc:  # offline, a proxy, a damaged download
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise ConfigError(
                f"model.backbone.pretrained: torchvision could not download {weights.url} "
                f"({first}). Offline, fetch that file where the network allows it and give "
                "model.backbone.weights: PATH instead."
            ) from None
        load_state(network, state, weights.url)
    return network


def _resnet_stages(network: nn.Module) -> list[nn.Module]:
    n = network
    return [
        nn.Sequential(n.conv1, n.bn1, n.relu),
        nn.Sequential(n.maxpool, n.layer1),
        n.layer2,
        n.layer3,
        n.layer4,
    ]


@torch.no_grad()
def _down_sampling(layers: nn.Sequential) -> list[int]:
    """Indices of the layers that reduce the resolution (found on a zero image, eval mode)."""
    layers.eval()
    x, found = torch.zeros(1, 3, PROBE, PROBE), []
    for i, layer in enumerate(layers):
        y = layer(x)
        if y.shape[-1] < x.shape[-1]:
            found.append(i)
        x = y
    layers.train()
    return found


def _cut(layers: nn.Sequential, starts: list[int]) -> list[nn.Module]:
    bounds = [0, *[s for s in starts if s > 0], len(layers)]
    return [layers[a:b] for a, b in pairwise(bounds) if b > a]


def _stages(network: nn.Module, model: str) -> list[nn.Module]:
    if model.startswith(("resnet", "resnext", "wide_resnet")):
        return _resnet_stages(network)
    features: nn.Sequential = network.features  # type: ignore[assignment]
    down = _down_sampling(features)
    if model.startswith("vgg"):
        return _cut(features, [i + 1 for i in down[:-1]])
    return _cut(features, down)


class TorchvisionBackbone(PretrainedBackbone):
    def __init__(
        self,
        input_spec: InputSpec,
        model: str,
        pretrained: bool = False,
        weights: str | None = None,
        stages: int | None = None,
        normalize: bool = True,
    ) -> None:
        check_image_input(input_spec, "torchvision")
        torchvision = require("torchvision", KEY)
        skip = skipping_weights()
        network = _network(torchvision, model, pretrained and not skip)
        load_weights_file(network, weights, skip)
        cut = _stages(network, model)
        if stages is not None and stages > len(cut):
            raise ConfigError(f"model.backbone.stages={stages}: {model} has {len(cut)} stages.")
        source = weights_source(pretrained, weights)
        super().__init__(
            input_spec,
            cut[:stages],
            IMAGENET_MEAN if normalize else (0.0, 0.0, 0.0),
            IMAGENET_STD if normalize else (1.0, 1.0, 1.0),
            f"torchvision {model}{source}",
        )


@register_backbone("torchvision")
def torchvision_backbone(input_spec: InputSpec, **params: Any) -> Backbone:
    return TorchvisionBackbone(input_spec, **params)
