"""The search spaces, created by name from the task set, the model config and the space's own
settings (``search.<space>``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sharenas.errors import unknown_name_message
from sharenas.spaces.base import Space
from sharenas.spaces.fusion import fusion_space
from sharenas.spaces.partition import partition_space
from sharenas.spaces.routing import routing_space

_SPACES: dict[str, Callable[..., Space]] = {
    "fusion": fusion_space,
    "routing": routing_space,
    "partition": partition_space,
}


def space_names() -> list[str]:
    return sorted(_SPACES)


def create_space(name: str, tasks: Any, input_spec: Any, model: Any, settings: Any) -> Space:
    """The space ``name`` over ``model``'s backbone for ``tasks``."""
    if name not in _SPACES:
        from sharenas.errors import ConfigError

        raise ConfigError(unknown_name_message("search space", name, space_names()))
    return _SPACES[name](tasks, input_spec, model, settings)
