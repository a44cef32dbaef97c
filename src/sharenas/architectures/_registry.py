"""The architecture registry (timm style): hand-designed and searched architectures, created by
name. Each architecture file registers itself with :func:`register_architecture`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sharenas.errors import ConfigError

if TYPE_CHECKING:
    from sharenas.architectures.base import MultiTaskModel
    from sharenas.data.base import InputSpec
    from sharenas.engine.config import ModelConfig
    from sharenas.tasks import TaskHandler

ArchitectureFactory = Callable[["list[TaskHandler]", "InputSpec", "ModelConfig"], "MultiTaskModel"]
_REGISTRY: dict[str, tuple[ArchitectureFactory, tuple[str, ...]]] = {}


def register_architecture(name: str, inputs: tuple[str, ...] = ("tabular", "image")):  # type: ignore[no-untyped-def]
    """Register a model class under ``name``, for the input kinds it is defined on."""

    def add(cls: ArchitectureFactory) -> ArchitectureFactory:
        _REGISTRY[name] = (cls, inputs)
        return cls

    return add


def architecture_names() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def _import_all() -> None:
    from sharenas.architectures import (  # noqa: F401  (registration)
        cross_stitch,
        hard_sharing,
        mmoe,
        nddr,
        ple,
        searched_fusion,
        searched_partition,
        searched_routing,
        single_task,
    )


def build_architecture(
    name: str, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig
) -> MultiTaskModel:
    _import_all()
    if name not in _REGISTRY:
        from sharenas.errors import unknown_name_message

        raise ConfigError(unknown_name_message("architecture", name, sorted(_REGISTRY)))
    factory, inputs = _REGISTRY[name]
    if input_spec.kind not in inputs:
        raise ConfigError(
            f"architecture {name!r} is defined on {' and '.join(inputs)} inputs, not on "
            f"{input_spec.kind} ones; choose one of "
            f"{', '.join(n for n, (_, i) in sorted(_REGISTRY.items()) if input_spec.kind in i)}."
        )
    if len(tasks) < 2 and name != "single-task":
        raise ConfigError(
            f"architecture {name!r} needs at least 2 tasks; the task set has "
            f"{len(tasks)}. Use single-task, or add tasks in data."
        )
    return factory(tasks, input_spec, config)
