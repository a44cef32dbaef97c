"""The space registry (timm style: only a registry): every space file registers its
:class:`~sharenas.spaces.spec.SpaceSpec` with :func:`register_space`; :mod:`sharenas.spaces`
imports them."""

from __future__ import annotations

import math
from typing import Any

from sharenas.errors import ConfigError, unknown_name_message
from sharenas.spaces.base import Space
from sharenas.spaces.spec import SpaceSpec

_SPACES: dict[str, SpaceSpec] = {}


def register_space(spec: SpaceSpec) -> SpaceSpec:
    _SPACES[spec.name] = spec
    return spec


def space_names() -> list[str]:
    return sorted(_SPACES)


def space_specs() -> list[SpaceSpec]:
    """Every registered space, by name."""
    return [_SPACES[name] for name in space_names()]


def space_spec(name: str) -> SpaceSpec:
    if name not in _SPACES:
        raise ConfigError(unknown_name_message("search space", name, space_names()))
    return _SPACES[name]


def is_space(name: str) -> bool:
    return name in _SPACES


def default_space() -> str:
    """The space a config without ``search.space`` searches."""
    return next(s.name for s in space_specs() if s.is_default)


def create_space(name: str, tasks: Any, input_spec: Any, model: Any, settings: Any) -> Space:
    """The space ``name`` over ``model``'s backbone for ``tasks``."""
    return space_spec(name).create(tasks, input_spec, model, settings)


def _bad_leaf(value: Any, path: str, leaf: type) -> str | None:
    """Where a genotype holds a null, a non-finite number or a value of the wrong kind."""
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            where = f"{path}[{key!r}]" if isinstance(key, str) else f"{path}[{key}]"
            found = _bad_leaf(item, where, leaf)
            if found:
                return found
        return None
    if value is None:
        return f"{path} is null"
    if leaf is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{path} is {value!r}, not a number"
        return None if math.isfinite(value) else f"{path} is {value}"
    return None if isinstance(value, str) else f"{path} is {value!r}, not a name"


def genotype_problem(genotype: dict[str, Any]) -> str | None:
    """What is wrong with a genotype's structure (a null, NaN, infinity or a value of the wrong
    kind where a name or a number belongs, under its space's genotype keys, or every space's
    when it names none), or None."""
    named = genotype.get("space")
    own = isinstance(named, str) and is_space(named)
    for spec in [space_spec(named)] if own else space_specs():
        for key, leaf in spec.genotype_leaves.items():
            found = _bad_leaf(genotype[key], key, leaf) if key in genotype else None
            if found:
                return (
                    f"the architecture's {found}; an arch.json holds names and finite numbers "
                    "only: restore the file sharenas wrote"
                )
    return None
