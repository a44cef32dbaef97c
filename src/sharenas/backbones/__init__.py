"""Stage-based backbones (mlp, cnn, lenet, resnet, encdec), created by name."""

from sharenas.backbones._registry import (
    backbone_names,
    build_backbone,
    create_backbone,
    register_backbone,
)
from sharenas.backbones.base import Backbone, StageSpec

__all__ = [
    "Backbone",
    "StageSpec",
    "backbone_names",
    "build_backbone",
    "create_backbone",
    "register_backbone",
]
