"""The strategy registry (timm style: only a registry): every strategy file registers its class
with :func:`register_strategy`; :mod:`sharenas.search` imports them."""

from __future__ import annotations

from typing import TypeVar

from sharenas.errors import ConfigError, unknown_name_message
from sharenas.search.strategy import Strategy

S = TypeVar("S", bound=type[Strategy])
_STRATEGIES: dict[str, type[Strategy]] = {}


def register_strategy(cls: S) -> S:
    """Class decorator: ``cls`` becomes the strategy named ``cls.name``."""
    _STRATEGIES[cls.name] = cls
    return cls


def strategy_names() -> list[str]:
    return sorted(_STRATEGIES)


def strategy_class(name: str) -> type[Strategy]:
    if name not in _STRATEGIES:
        raise ConfigError(unknown_name_message("search strategy", name, strategy_names()))
    return _STRATEGIES[name]


def create_strategy(name: str) -> Strategy:
    """The strategy named ``name``."""
    return strategy_class(name)()


def registered_strategies() -> dict[str, type[Strategy]]:
    return dict(_STRATEGIES)
