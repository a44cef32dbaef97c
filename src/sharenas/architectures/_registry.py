"""The architecture registry (timm style: only a registry): the hand-designed architectures,
created by name, each file registering itself with :func:`register_architecture`
(:mod:`sharenas.architectures` imports them); every search space's name is also an
architecture, its searched genotype (:mod:`sharenas.architectures.searched`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sharenas.architectures.searched import build_searched
from sharenas.errors import ConfigError, unknown_name_message
from sharenas.spaces.registry import is_space, space_names

if TYPE_CHECKING:
    from sharenas.architectures.base import MultiTaskModel
    from sharenas.architectures.config import ModelConfig
    from sharenas.data.base import InputSpec
    from sharenas.tasks import TaskHandler

ArchitectureFactory = Callable[["list[TaskHandler]", "InputSpec", "ModelConfig"], "MultiTaskModel"]
_REGISTRY: dict[str, tuple[ArchitectureFactory, tuple[str, ...]]] = {}
_SEARCHED_INPUTS = ("tabular", "image")  # a space builds on the backbone's input kinds


def register_architecture(name: str, inputs: tuple[str, ...] = ("tabular", "image")):  # type: ignore[no-untyped-def]
    """Register a model class under ``name``, for the input kinds it is defined on."""

    def add(cls: ArchitectureFactory) -> ArchitectureFactory:
        _REGISTRY[name] = (cls, inputs)
        return cls

    return add


def _inputs(name: str) -> tuple[str, ...]:
    return _SEARCHED_INPUTS if is_space(name) else _REGISTRY[name][1]


def architecture_names() -> list[str]:
    return sorted({*_REGISTRY, *space_names()})


def check_architecture(name: str, given_as: str) -> None:
    """Refuse an unknown architecture name, naming where it was given (``--arch``,
    ``model.arch``), before any data are loaded."""
    names = architecture_names()
    if name not in names:
        raise ConfigError(f"{given_as}: {unknown_name_message('architecture', name, names)}")


def build_architecture(
    name: str, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig
) -> MultiTaskModel:
    names = architecture_names()
    if name not in names:
        raise ConfigError(unknown_name_message("architecture", name, names))
    if input_spec.kind not in _inputs(name):
        raise ConfigError(
            f"architecture {name!r} is defined on {' and '.join(_inputs(name))} inputs, not on "
            f"{input_spec.kind} ones; choose one of "
            f"{', '.join(n for n in names if input_spec.kind in _inputs(n))}."
        )
    if len(tasks) < 2 and name != "single-task":
        raise ConfigError(
            f"architecture {name!r} needs at least 2 tasks; the task set has "
            f"{len(tasks)}. Use single-task, or add tasks in data."
        )
    if is_space(name):
        return build_searched(name, tasks, input_spec, config)  # type: ignore[return-value]
    return _REGISTRY[name][0](tasks, input_spec, config)
