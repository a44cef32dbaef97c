"""sharenas: neural architecture search for multi-task learning.

The Python API; the ``sharenas`` command only wraps it::

    import sharenas
    data = sharenas.load_dataset("multimnist")
    run = sharenas.train("multimnist", arch="nddr", overrides=["train.epochs=2"])
    found = sharenas.search("multimnist-fusion")      # a shipped config, or a YAML file
    found.model, found.metrics["delta_mtl"], found.folder
    again = sharenas.load_run(found.folder / "search")
    loaded = sharenas.load_model(found.folder / "search")   # from the folder alone
    loaded.predict("rows.csv").table()
"""

from sharenas.api import affinity, auto, load_run, search, train
from sharenas.config import Config, build_config, dump_config, load_config
from sharenas.data import (
    DatasetBuilder,
    DatasetConfig,
    InputSpec,
    MultiDomainDataset,
    MultiTaskDataset,
    TaskSetData,
    create_dataset,
    dataset_names,
    load_dataset,
    register_dataset,
)
from sharenas.deploy import LoadedModel, Predictions, export_model, load_model
from sharenas.errors import (
    ChecksumError,
    ConfigError,
    DatasetError,
    DataSourceError,
    SharenasError,
)
from sharenas.runs.result import Run, SearchResult
from sharenas.tasks.spec import TaskKind, TaskSpec

__version__ = "0.2.0"  # the package's version (pyproject.toml reads it)

__all__ = [
    "ChecksumError",
    "Config",
    "ConfigError",
    "DataSourceError",
    "DatasetBuilder",
    "DatasetConfig",
    "DatasetError",
    "InputSpec",
    "LoadedModel",
    "MultiDomainDataset",
    "MultiTaskDataset",
    "Predictions",
    "Run",
    "SearchResult",
    "SharenasError",
    "TaskKind",
    "TaskSetData",
    "TaskSpec",
    "__version__",
    "affinity",
    "auto",
    "build_config",
    "create_dataset",
    "dataset_names",
    "dump_config",
    "export_model",
    "load_config",
    "load_dataset",
    "load_model",
    "load_run",
    "register_dataset",
    "search",
    "train",
]
