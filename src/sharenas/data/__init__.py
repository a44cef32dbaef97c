"""Datasets: the registry, sources and caching, one file per dataset."""

from sharenas.data import (  # noqa: F401  (importing registers the datasets)
    census_income,
    diamonds,
    digit_domains,
    mnist_scenes,
    multimnist,
    nyuv2,
    synthetic_groups,
    synthetic_mmoe,
    tabular_csv,
)
from sharenas.data.base import InputSpec, MultiDomainDataset, MultiTaskDataset, TaskSetData
from sharenas.data.builder import DatasetBuilder, DatasetConfig
from sharenas.data.mnist import load_mnist
from sharenas.data.registry import (
    create_dataset,
    dataset_names,
    get_dataset_class,
    load_dataset,
    register_dataset,
)

__all__ = [
    "DatasetBuilder",
    "DatasetConfig",
    "InputSpec",
    "MultiDomainDataset",
    "MultiTaskDataset",
    "TaskSetData",
    "create_dataset",
    "dataset_names",
    "get_dataset_class",
    "load_dataset",
    "load_mnist",
    "register_dataset",
]
