"""Stage-based backbones (mlp, cnn, lenet, resnet, encdec), created by name. Every module of this
package is imported here, so a backbone file registers itself by being here."""

import importlib
import pkgutil

from sharenas.backbones._registry import (
    backbone_names,
    build_backbone,
    create_backbone,
    register_backbone,
)
from sharenas.backbones.base import Backbone, StageSpec

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Backbone",
    "StageSpec",
    "backbone_names",
    "build_backbone",
    "create_backbone",
    "register_backbone",
]
