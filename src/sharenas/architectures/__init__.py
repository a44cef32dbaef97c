"""Multi-task architectures, created by name: the hand-designed baselines and the searched ones.

Every module of this package is imported here, so an architecture file registers itself by
being here."""

from sharenas.architectures._registry import (
    architecture_names,
    build_architecture,
    check_architecture,
    register_architecture,
)
from sharenas.architectures.base import MultiTaskModel
from sharenas.registration import import_members

import_members(__name__, __path__)

__all__ = [
    "MultiTaskModel",
    "architecture_names",
    "build_architecture",
    "check_architecture",
    "register_architecture",
]
