"""Stage-based backbones (mlp, cnn, lenet, resnet, encdec), created by name. Every module of this
package is imported here, so a backbone file registers itself by being here."""

from sharenas.backbones._registry import (
    backbone_names,
    build_backbone,
    create_backbone,
    register_backbone,
)
from sharenas.backbones.base import Backbone, StageSpec
from sharenas.registration import import_members

import_members(__name__, __path__)

__all__ = [
    "Backbone",
    "StageSpec",
    "backbone_names",
    "build_backbone",
    "create_backbone",
    "register_backbone",
]
