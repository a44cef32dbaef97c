"""Any CNN of timm (Wightman, pytorch-image-models) as a stage-based backbone, through timm's
feature-extraction interface: the network's ``feature_info`` names the module ending each
resolution, with its channels and reduction, and ``FeatureListNet`` (what ``features_only``
builds) runs the network's modules in order. A stage is the run of modules up to and including
one feature module, so stage ``i`` gives ``features_only``'s output ``i``.

Weights go into the whole network before it is cut, so a checkpoint of the classifier loads
key for key: ``pretrained`` uses timm's own download (the Hugging Face hub), ``weights`` a local
file read as tensors only.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from sharenas.backbones._registry import register_backbone
from sharenas.backbones.base import Backbone
from sharenas.backbones.pretrained import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PretrainedBackbone,
    check_image_input,
    load_weights_file,
    require,
    skipping_weights,
    weights_source,
)
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError

KEY = "model.backbone (name: timm)"


def _network(timm: Any, model: str, pretrained: bool) -> nn.Module:
    """The whole classifier, with timm's ImageNet weights when ``pretrained``."""
    if not timm.is_model(model):
        close = timm.list_models(f"*{model}*")[:5]
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise ConfigError(f"model.backbone.model: timm has no network {model!r}.{hint}")
    if not pretrained:
        return timm.create_model(model, pretrained=False)
    try:
        return timm.create_model(model, pretrained=True)
    except Exception as exc:  # offline, no weights published, hub errors
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConfigError(
            f"model.backbone.pretrained: timm could not download the weights of {model} "
            f"({first}). Offline, save them once where the network allows it and give "
            "model.backbone.weights: PATH (.pth or .safetensors) instead."
        ) from None


def _features(timm: Any, network: nn.Module, stages: int | None, model: str) -> nn.Module:
    """timm's FeatureListNet over ``network``'s first ``stages`` feature levels (Sequential
    containers flattened where a feature module lies inside one)."""
    info = getattr(network, "feature_info", None)
    if not info:
        raise ConfigError(f"model.backbone.model: timm's {model} declares no feature_info.")
    count = len(info) if stages is None else stages
    if count > len(info):
        raise ConfigError(f"model.backbone.stages={stages}: timm's {model} has {len(info)} stages.")
    indices = tuple(range(count))
    for flatten in (False, True):
        try:
            return timm.models.FeatureListNet(network, indices, flatten_sequential=flatten)
        except AssertionError:
            continue
    raise ConfigError(
        f"model.backbone.model: timm's {model} cannot be cut into stages (its feature modules "
        "are not run in sequence); choose a CNN such as resnet18, efficientnet_b0 or vgg11_bn."
    )


def _stages(features: nn.Module) -> list[nn.Sequential]:
    """Each feature level's modules: those after the previous level's, up to its own."""
    stages, current = [], nn.Sequential()
    for name, module in features.items():
        current.add_module(name, module)
        if name in features.return_layers:
            stages.append(current)
            current = nn.Sequential()
    return stages


class TimmBackbone(PretrainedBackbone):
    def __init__(
        self,
        input_spec: InputSpec,
        model: str,
        pretrained: bool = False,
        weights: str | None = None,
        stages: int | None = None,
        normalize: bool = True,
    ) -> None:
        check_image_input(input_spec, "timm")
        timm = require("timm", KEY)
        skip = skipping_weights()
        network = _network(timm, model, pretrained and not skip)
        load_weights_file(network, weights, skip)
        config = getattr(network, "pretrained_cfg", {}) or {}
        mean = config.get("mean", IMAGENET_MEAN) if normalize else (0.0, 0.0, 0.0)
        std = config.get("std", IMAGENET_STD) if normalize else (1.0, 1.0, 1.0)
        features = _features(timm, network, stages, model)
        source = weights_source(pretrained, weights)
        super().__init__(
            input_spec,
            _stages(features),
            mean,
            std,
            f"timm {model}{source}",
            features.feature_info.reduction(),
        )


@register_backbone("timm")
def timm_backbone(input_spec: InputSpec, **params: Any) -> Backbone:
    return TimmBackbone(input_spec, **params)
