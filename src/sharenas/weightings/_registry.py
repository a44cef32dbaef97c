"""The loss-weighting registry (timm style: only a registry): weightings created by name; each
weighting file registers its class with :func:`register_weighting` (:mod:`sharenas.weightings`
imports them), and installed packages add theirs through the ``sharenas.weightings`` entry-point
group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from sharenas.errors import ConfigError, unknown_name_message
from sharenas.plugins import WEIGHTINGS, load_entry_points
from sharenas.validation import validate_model
from sharenas.weightings.base import LossWeighting

W = TypeVar("W", bound=type[LossWeighting])
_REGISTRY: dict[str, type[LossWeighting]] = {}


def register_weighting(cls: W) -> W:
    """Class decorator: ``cls`` is created by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def weighting_names() -> list[str]:
    load_entry_points(WEIGHTINGS)
    return sorted(_REGISTRY)


def weighting_class(name: str) -> type[LossWeighting]:
    """The class registered as ``name``; a ConfigError listing the names otherwise."""
    if name not in _REGISTRY:
        load_entry_points(WEIGHTINGS)
    if name not in _REGISTRY:
        raise ConfigError(unknown_name_message("loss weighting", name, weighting_names()))
    return _REGISTRY[name]


def check_options(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` validated for weighting ``name`` (defaults filled in); a ConfigError naming
    ``train.weighting_options.<key>`` for an unknown key or a bad value."""
    cls = weighting_class(name)
    if options and not cls.Options.model_fields:
        keys = ", ".join(f"train.weighting_options.{k}" for k in options)
        raise ConfigError(f"{keys}: loss weighting {name!r} takes no options; remove them.")
    prefix = "train.weighting_options"
    return validate_model(cls.Options, dict(options), prefix=prefix).model_dump()


def create_weighting(
    name: str,
    tasks: list[str],
    task_weights: Mapping[str, float] | None = None,
    options: Mapping[str, Any] | None = None,
) -> LossWeighting:
    """A fresh weighting ``name`` over ``tasks`` (``task_weights``: weighting ``fixed``)."""
    cls = weighting_class(name)
    settings = cls.Options.model_validate(check_options(name, options or {}))
    return cls(list(tasks), settings, dict(task_weights or {}))
