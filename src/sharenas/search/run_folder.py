"""The start of a weight-sharing search run (fusion, routing): its folder and its data."""

from __future__ import annotations

from pathlib import Path

from sharenas.config import Config
from sharenas.data import create_dataset
from sharenas.data.base import TaskSetData
from sharenas.errors import ConfigError, SharenasError


def search_data(
    config: Config,
    out: Path,
    *,
    resume: bool,
    data: TaskSetData | None,
    search: str,
    checkpoint: str,
) -> TaskSetData:
    """The task set to search, after refusing a folder holding an unfinished search (without
    ``resume``) and a multi-domain task set (the architecture steps need every task's target in
    one batch)."""
    if (Path(out) / checkpoint).exists() and not resume:
        raise SharenasError(
            f"{out} holds a search checkpoint; pass --resume to continue it, or "
            "--out to start elsewhere."
        )
    data = data if data is not None else create_dataset(config.data).load()
    if data.shape == "multi-domain":
        raise ConfigError(
            f"{data.name} is a multi-domain task set; the {search} search reads multi-output "
            "task sets for now (its architecture steps need every task's target in one batch). "
            "Train its architectures with `sharenas train`."
        )
    return data
