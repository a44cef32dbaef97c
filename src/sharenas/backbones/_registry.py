"""The backbone registry (timm style: only a registry): backbones created by name; each backbone
file registers itself with :func:`register_backbone` (:mod:`sharenas.backbones` imports them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sharenas.backbones.base import Backbone
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError, unknown_name_message
from sharenas.plugins import BACKBONES, load_entry_points

BackboneFactory = Callable[..., Backbone]
_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    def add(factory: BackboneFactory) -> BackboneFactory:
        _REGISTRY[name] = factory
        return factory

    return add


def backbone_names() -> list[str]:
    load_entry_points(BACKBONES)
    return sorted(_REGISTRY)


def create_backbone(name: str, input_spec: InputSpec, **params: Any) -> Backbone:
    if name not in _REGISTRY:
        load_entry_points(BACKBONES)
    if name not in _REGISTRY:
        raise ConfigError(unknown_name_message("backbone", name, backbone_names()))
    return _REGISTRY[name](input_spec, **params)


def build_backbone(backbone: Any, input_spec: InputSpec, key: str) -> Backbone:
    """A fresh backbone from its config (``{name, ...params}``); a backbone refusing the input
    kind is a ConfigError naming ``key``."""
    params = backbone.model_dump(exclude={"name"})
    try:
        return create_backbone(backbone.name, input_spec, **params)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None
