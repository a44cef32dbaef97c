"""Multi-task architectures, created by name: the hand-designed baselines and the searched ones.

Every module of this package is imported here, so an architecture file registers itself by
being here."""

import importlib
import pkgutil

from sharenas.architectures._registry import (
    architecture_names,
    build_architecture,
    register_architecture,
)
from sharenas.architectures.base import MultiTaskModel

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["MultiTaskModel", "architecture_names", "build_architecture", "register_architecture"]
