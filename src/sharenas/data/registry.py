"""The dataset registry: every task set sharenas can load, created by name (timm style).
A dataset registers its :class:`~sharenas.data.builder.DatasetBuilder` with
:func:`register_dataset`; the config's ``name`` field selects it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.data.base import TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.errors import DatasetError, unknown_name_message
from sharenas.plugins import DATASETS, load_entry_points
from sharenas.validation import validate_model

_REGISTRY: dict[str, type[DatasetBuilder]] = {}


def register_dataset(cls: type[DatasetBuilder]) -> type[DatasetBuilder]:
    """Class decorator adding a dataset to the registry under ``cls.name``."""
    if cls.name in _REGISTRY:
        raise ValueError(f"dataset {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def dataset_names() -> list[str]:
    """Every registered dataset, the installed plugins' included."""
    load_entry_points(DATASETS)
    return sorted(_REGISTRY)


def get_dataset_class(name: str) -> type[DatasetBuilder]:
    """The builder class registered as ``name`` (an installed plugin's too); a clear error with
    the closest name otherwise."""
    if name not in _REGISTRY:
        load_entry_points(DATASETS)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DatasetError(
            unknown_name_message("dataset", name, dataset_names())
            + " Your own dataset: register it with @sharenas.register_dataset in a module that "
            "data.module names, or in a package's 'sharenas.datasets' entry point."
        ) from None


def create_dataset(
    config: DatasetConfig | dict[str, Any] | str,
    cache_dir: Path | None = None,
    **params: Any,
) -> DatasetBuilder:
    """A builder from a config object, a config dict or a name plus keyword parameters."""
    if isinstance(config, str):
        config = {"name": config, **params}
    elif params:
        raise TypeError("keyword parameters are only accepted with a dataset name")
    if isinstance(config, dict):
        cls = get_dataset_class(str(config.get("name")))
        config = validate_model(cls.config_class, config, prefix="data")
    return get_dataset_class(config.name)(config, cache_dir=cache_dir)


def load_dataset(
    config: DatasetConfig | dict[str, Any] | str, cache_dir: Path | None = None, **params: Any
) -> TaskSetData:
    """Load a task set by name or config: ``load_dataset("multimnist", digits=3)``."""
    return create_dataset(config, cache_dir=cache_dir, **params).load()
