"""Datasets and backbones from other packages, found in every command and worker process.

Two ways, both ordinary Python imports of code installed on this machine (nothing in a config
or run folder is executed):

- an installed package declares an entry point in the group ``sharenas.datasets`` (or
  ``sharenas.backbones``) naming the module that registers it; the group is loaded the first
  time a name is not found (``[project.entry-points."sharenas.datasets"] toy = "toy_data"``);
- a config names the module: ``data: {module: my_package.my_data, name: toy, …}``; it is imported
  before the dataset's name is looked up, so ``sharenas train``, ``search``, ``evaluate``,
  ``predict`` and the partition workers (which read the search folder's config) all know it.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points

from sharenas.errors import ConfigError

DATASETS = "sharenas.datasets"
BACKBONES = "sharenas.backbones"

log = logging.getLogger(__name__)
_loaded: set[str] = set()


def load_entry_points(group: str) -> None:
    """Import every module the installed packages name in ``group`` (once per process); a plugin
    that fails to import is reported and skipped, so one broken package does not stop the rest."""
    if group in _loaded:
        return
    _loaded.add(group)
    for point in entry_points(group=group):
        try:
            point.load()
        except Exception as exc:  # any error in someone else's package: say which, go on
            message = "the %s plugin %r (%s) failed to load: %s"
            log.warning(message, group, point.name, point.value, exc)


def import_named(module: str, key: str) -> None:
    """Import ``module`` (named by the config key ``key``); a clear error when it cannot be."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{key}={module!r} cannot be imported ({exc}); install the package that provides "
            "it, or put its folder on PYTHONPATH."
        ) from None
