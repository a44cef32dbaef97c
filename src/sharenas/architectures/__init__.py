"""Multi-task architectures, created by name: the hand-designed baselines and the searched ones."""

from sharenas.architectures._registry import (
    architecture_names,
    build_architecture,
    register_architecture,
)
from sharenas.architectures.base import MultiTaskModel

__all__ = ["MultiTaskModel", "architecture_names", "build_architecture", "register_architecture"]
