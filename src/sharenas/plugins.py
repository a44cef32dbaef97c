"""Datasets, backbones and loss weightings from other packages, found in every command and
worker process.

A plugin is code the user chose, imported the ordinary Python way from what is installed on this
machine (never from the current folder, and never because a received file names it):

- an installed package declares an entry point in the group ``sharenas.datasets`` (or
  ``sharenas.backbones``, ``sharenas.weightings``) naming the module that registers it; the
  group is loaded the first time a name is not found
  (``[project.entry-points."sharenas.datasets"] toy = "toy_data"``);
- the user's own config names the module: ``data: {module: my_package.my_data, name: toy, …}``;
  it is imported before the dataset's name is looked up.

A run or search folder's ``config.yaml`` is not the user's choice: opening a folder
(``sharenas evaluate``, ``predict``, a partition worker started by hand) imports the module it
names only when the user allowed that module: ``$SHARENAS_ALLOW_MODULES`` (names separated by
commas), a module an installed package declares as an entry point, or one this process already
imported for the user's own config. The partition workers ``sharenas search`` starts get the
search config's module through ``$SHARENAS_ALLOW_MODULES`` from their parent.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points

from sharenas.errors import ConfigError

DATASETS = "sharenas.datasets"
BACKBONES = "sharenas.backbones"
WEIGHTINGS = "sharenas.weightings"
ALLOW_VARIABLE = "SHARENAS_ALLOW_MODULES"

log = logging.getLogger(__name__)
_loaded: set[str] = set()
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@contextmanager
def _working_folder_left_out() -> Iterator[None]:
    """``sys.path`` without the current folder while a module is imported by name (``python -m``
    puts it first, so a file of that name there would run), unless ``$PYTHONPATH`` names it."""
    cwd = os.path.abspath(os.getcwd())
    named = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    removed = [
        (i, p)
        for i, p in enumerate(sys.path)
        if os.path.abspath(p or os.curdir) == cwd and cwd not in named
    ]
    for i, _ in reversed(removed):
        del sys.path[i]
    try:
        yield
    finally:
        for i, p in removed:
            if p not in sys.path:
                sys.path.insert(min(i, len(sys.path)), p)


def load_entry_points(group: str) -> None:
    """Import every module the installed packages name in ``group`` (once per process); a plugin
    that fails to import is reported and skipped, so one broken package does not stop the rest."""
    if group in _loaded:
        return
    _loaded.add(group)
    for point in entry_points(group=group):
        try:
            with _working_folder_left_out():
                point.load()
        except Exception as exc:  # any error in someone else's package: say which, go on
            message = "the %s plugin %r (%s) failed to load: %s"
            log.warning(message, group, point.name, point.value, exc)


def check_module_name(module: object, key: str) -> str:
    """``module`` if it is a dotted module name; a ConfigError naming ``key`` otherwise."""
    if not isinstance(module, str) or not _MODULE_NAME.fullmatch(module):
        raise ConfigError(
            f"{key}: {module!r} is not a module name; give a dotted Python module name such "
            "as my_package.my_data."
        )
    return module


def import_named(module: str, key: str) -> None:
    """Import ``module``, which the user chose (named by the config key ``key`` of their own
    config), the current folder left out of the search path; a clear error when it cannot be."""
    check_module_name(module, key)
    try:
        with _working_folder_left_out():
            importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{key}={module!r} cannot be imported ({exc}); install the package that provides "
            "it, or put its folder on PYTHONPATH (the current folder is not searched)."
        ) from None


def allowed_from_environment() -> list[str]:
    """The module names ``$SHARENAS_ALLOW_MODULES`` allows (commas or spaces between them)."""
    return [n for n in re.split(r"[\s,]+", os.environ.get(ALLOW_VARIABLE, "")) if n]


def entry_point_modules() -> set[str]:
    """The modules the installed packages declare in the sharenas entry-point groups."""
    return {
        point.value.partition(":")[0].strip()
        for group in (DATASETS, BACKBONES, WEIGHTINGS)
        for point in entry_points(group=group)
    }


def is_allowed(module: str) -> bool:
    """Whether a received folder may have ``module`` imported: the user allowed it, an installed
    package declares it, or it is already imported (importing it again runs nothing)."""
    return (
        module in sys.modules
        or module in allowed_from_environment()
        or module in entry_point_modules()
    )


def refusal(module: str, key: str) -> ConfigError:
    """The error for a received folder naming a module the user has not allowed."""
    return ConfigError(
        f"{key}={module!r}: a run or search folder's config names this module, and sharenas "
        "never imports code because a folder names it. If you trust it, allow it: "
        f"{ALLOW_VARIABLE}={module} (several: separated by commas), or install the package "
        "that declares it as a 'sharenas.datasets' entry point; then make it importable "
        "(installed, or its folder on PYTHONPATH)."
    )


def import_received(module: object, key: str) -> None:
    """Import ``module``, named by a received folder's config (``key``), if the user allowed
    it; a ConfigError saying how to allow it otherwise."""
    name = check_module_name(module, key)
    if not is_allowed(name):
        raise refusal(name, key)
    import_named(name, key)


def allowance(modules: Iterable[str | None]) -> dict[str, str]:
    """The environment entry that allows ``modules`` (besides those already allowed) in the
    processes this one starts, such as the partition workers of a search."""
    names = list(dict.fromkeys([*allowed_from_environment(), *(m for m in modules if m)]))
    return {ALLOW_VARIABLE: ",".join(names)} if names else {}
