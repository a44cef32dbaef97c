"""What a dataset is: a :class:`DatasetBuilder` subclass with a pydantic config class
(:class:`DatasetConfig`), registered by name in :mod:`sharenas.data.registry`.

A subclass sets the class attributes ``name``, ``description``, ``license``, ``source`` and
``config_class``, and implements :meth:`DatasetBuilder.tasks` and :meth:`DatasetBuilder._load`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from sharenas.cache import cache_root
from sharenas.data.base import InputSpec, TaskSetData
from sharenas.data.partial_labels import check_labels, drop_labels
from sharenas.tasks.spec import TaskSpec


class DatasetConfig(BaseModel):
    """Fields every dataset accepts; subclasses add their own and fix ``name``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    module: str | None = Field(
        None,
        description="A module to import before the dataset is looked up: the one that "
        "registers your own dataset (e.g. my_package.my_data).",
    )
    data_dir: Path | None = Field(
        None, description="Folder with files you already have; tried before any download."
    )
    limit: int | None = Field(
        None, ge=1, description="Use at most this many rows of each split (quick runs)."
    )
    drop_labels: dict[str, Annotated[float, Field(ge=0, lt=1)]] = Field(
        default_factory=dict,
        description="Per task, the share of its training labels to remove at random (partial "
        "labels: semi-supervised experiments); validation and test labels are kept.",
    )
    drop_labels_seed: int | None = Field(
        None,
        ge=0,
        description="The draw of data.drop_labels (unset: 0; unset keeps run "
        "folders made before the setting resumable).",
    )
    standardize_targets: bool = Field(
        True,
        description="Train regression tasks in standard units (training mean and standard "
        "deviation); predictions and metrics stay in the target's unit.",
    )


def unique_tasks(tasks: list[str]) -> list[str]:
    """A config's list of tasks to predict: at least one, none twice (a pydantic validator's
    body, for datasets whose tasks are a choice)."""
    if not tasks:
        raise ValueError("at least one task is needed")
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks are listed twice: {tasks}")
    return tasks


class DatasetBuilder(ABC):
    """Knows one dataset: its tasks, where it comes from, and how to load its splits."""

    name: ClassVar[str]
    description: ClassVar[str]
    license: ClassVar[str]
    source: ClassVar[str]
    config_class: ClassVar[type[DatasetConfig]]
    # built from the seed on every load: nothing to download or cache
    generated: ClassVar[bool] = False

    def __init__(self, config: DatasetConfig, cache_dir: Path | None = None) -> None:
        self.config = config
        self.root = Path(cache_dir) if cache_dir is not None else cache_root()

    @property
    def cache_dir(self) -> Path:
        """This dataset's folder in the cache (``$SHARENAS_DATA/<name>``)."""
        return self.root / self.name

    @abstractmethod
    def tasks(self) -> list[TaskSpec]:
        """The tasks this config declares."""

    def load(self) -> TaskSetData:
        """Fetch if needed, then return the train/val/test splits (at most ``limit`` rows each)."""
        data = self._load()
        if self.config.limit is not None:
            data.splits = {k: v.take(self.config.limit) for k, v in data.splits.items()}
        if self.config.drop_labels:
            drop_labels(data, self.config.drop_labels, self.config.drop_labels_seed or 0)
        check_labels(data)
        if self.config.standardize_targets:
            from sharenas.data.standardize import standardize_targets

            standardize_targets(data)
        return data

    @abstractmethod
    def _load(self) -> TaskSetData:
        """Fetch if needed, then return the full train/val/test splits."""

    def input_spec(self) -> InputSpec | None:
        """What the network reads, when known without loading (None: known after load)."""
        return None

    def split_sizes(self) -> dict[str, int] | None:
        """Declared split sizes, when known without loading."""
        return None

    def is_cached(self) -> bool:
        """Whether loading needs no download (a builder that downloads says when it does)."""
        return True

    def location(self) -> Path:
        """Where the files loading reads lie (the cache unless they are the user's own)."""
        return self.cache_dir

    def fetch(self) -> None:
        """Download and verify the files into the cache: by default a load, which fetches what
        it needs (nothing for generated data)."""
        if not self.generated:
            self.load()
