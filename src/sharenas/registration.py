"""How a package's registry learns its members (timm style): the package's ``__init__.py`` imports
every module of the package, and each module registers what it defines with its registry's
decorator. The registry module itself imports none of them, so there is no import circle."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable


def import_members(package: str, path: Iterable[str]) -> None:
    """Import every module of ``package`` (its ``__path__``), so that each registers itself."""
    for module in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{module.name}")
