"""The one-shot search strategies, created by name: each a training step over a supernet."""

from __future__ import annotations

from typing import Any

from sharenas.errors import ConfigError, unknown_name_message
from sharenas.search.base import SearchStep
from sharenas.search.gradient import GradientStep
from sharenas.search.gumbel import GumbelStep
from sharenas.search.reinforce import ReinforceStep
from sharenas.spaces.base import Space

_STRATEGIES: dict[str, type[SearchStep]] = {
    "gradient": GradientStep,
    "reinforce": ReinforceStep,
    "gumbel": GumbelStep,
}


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def create_step(name: str, space: Space, settings: Any) -> SearchStep:
    """The step of strategy ``name`` over ``space``, with its settings (``search.<name>``)."""
    if name not in _STRATEGIES:
        raise ConfigError(unknown_name_message("one-shot strategy", name, strategy_names()))
    return _STRATEGIES[name](space, settings)
