"""Multi-task models: an input goes in, ``{task: prediction}`` comes out.

Hand-designed architectures are registered by name (timm style) and built from the task handlers,
the input declaration and the model config. Each file holds one architecture and cites its paper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from pydantic import BaseModel
from torch import nn

from sharenas.backbones import Backbone, create_backbone
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError
from sharenas.spaces.fusion import FusionSpace, FusionSpaceConfig
from sharenas.spaces.partition import PartitionSpace, PartitionSpaceConfig
from sharenas.spaces.routing import RoutingSpace, RoutingSpaceConfig
from sharenas.tasks import TaskHandler, make_head

M = TypeVar("M", bound=BaseModel)

if TYPE_CHECKING:
    from sharenas.engine.config import ModelConfig


class MultiTaskModel(nn.Module):
    """Base class: ``forward(x) -> {task: prediction}``."""

    def __init__(self, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig):
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.input_spec = input_spec
        self.config = config

    def new_backbone(self) -> Backbone:
        params = self.config.backbone.model_dump(exclude={"name"})
        return create_backbone(self.config.backbone.name, self.input_spec, **params)

    def new_heads(
        self,
        tasks: list[TaskHandler],
        backbone: Backbone,
        feature_shape: tuple[int, ...] | None = None,
    ) -> nn.ModuleDict:
        shape = feature_shape or backbone.feature_shape()
        return nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec, t.out_channels(), shape, backbone.input_size, tuple(self.config.tower)
                )
                for t in tasks
            }
        )

    def forward(self, x: Any) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} does not define forward")


ArchitectureFactory = Callable[[list[TaskHandler], InputSpec, "ModelConfig"], MultiTaskModel]
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
        from sharenas.data.registry import unknown_name_message

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


def searched_genotype(
    config: ModelConfig, space: str, genotype_class: Any, config_class: type[M]
) -> tuple[Any, M]:
    """``model.genotype`` (a search's arch.json) parsed, with its space config; a clear error
    when there is none."""
    genotype = config.genotype
    if not genotype:
        raise ConfigError(
            f"architecture {space!r} needs model.genotype: pass a {space} search's "
            "arch.json with --arch."
        )
    return genotype_class.from_dict(genotype), space_config(config_class, genotype)


def build_backbone(backbone: Any, input_spec: InputSpec, key: str) -> Backbone:
    """A fresh backbone from its config (``{name, ...params}``); a backbone refusing the input
    kind is a ConfigError naming ``key``."""
    params = backbone.model_dump(exclude={"name"})
    try:
        return create_backbone(backbone.name, input_spec, **params)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


def fusion_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelConfig,
    space: FusionSpaceConfig,
    own_weight: float | None = None,
) -> FusionSpace:
    """The fusion space over each task's backbone (``model.task_backbones``, else
    ``model.backbone``), with the config's towers."""
    names = {t.name for t in tasks}
    for task in config.task_backbones:
        if task not in names:
            raise ConfigError(
                f"model.task_backbones.{task}: no task {task!r} in the task set "
                f"({', '.join(sorted(names))})."
            )

    def factory(task: str) -> Backbone:
        backbone = config.task_backbones.get(task, config.backbone)
        return build_backbone(backbone, input_spec, f"model.task_backbones.{task}")

    return FusionSpace(
        tasks,
        factory,
        space.connectivity,
        space.depth_limit,
        space.own_weight if own_weight is None else own_weight,
        space.init,
        tuple(config.tower),
    )


def space_config(model: type[M], genotype: dict[str, Any]) -> M:
    """The ``space_config`` of an arch.json, validated; a clear error when it is not one."""
    from pydantic import ValidationError

    try:
        return model.model_validate(genotype.get("space_config", {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'space_config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"the arch.json's space_config is not a valid {genotype.get('space')} space config "
            f"({problems}); pass an arch.json written by a search of that space."
        ) from None


def routing_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelConfig,
    space: RoutingSpaceConfig,
) -> RoutingSpace:
    """The routing space over copies of ``model.backbone``'s stages, with the config's towers."""

    def factory() -> Backbone:
        return build_backbone(config.backbone, input_spec, "model.backbone")

    return RoutingSpace(
        tasks, factory, space.experts, space.max_fan_in, space.search_query, tuple(config.tower)
    )


def partition_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelConfig,
    space: PartitionSpaceConfig,
) -> PartitionSpace:
    """The partition space over ``model.backbone``'s channels, with the config's towers."""

    def factory() -> Backbone:
        return build_backbone(config.backbone, input_spec, "model.backbone")

    return PartitionSpace(tasks, factory, space, tuple(config.tower))


class PerTaskBackbones(MultiTaskModel):
    """One backbone per task; after stage ``i`` the tasks' features pass through
    :meth:`exchange` (cross-stitch units, NDDR layers…), then each task's head."""

    def __init__(self, tasks: list[TaskHandler], input_spec: InputSpec, config: ModelConfig):
        super().__init__(tasks, input_spec, config)
        self.backbones = nn.ModuleList(self.new_backbone() for _ in tasks)
        self.heads = self.new_heads(tasks, self.backbones[0])

    def exchange(self, stage: int, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """The tasks' features after ``stage``; the default shares nothing."""
        return features

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        h = [backbone.stem(x) for backbone in self.backbones]
        for i in range(len(self.backbones[0].stages)):
            h = [backbone.stages[i](f) for backbone, f in zip(self.backbones, h, strict=True)]
            h = self.exchange(i, h)
        return {name: self.heads[name](f) for name, f in zip(self.task_names, h, strict=True)}
