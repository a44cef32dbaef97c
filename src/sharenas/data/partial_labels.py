"""Partial labels of a loaded task set: removing a share of a task's training labels at random
(``data.drop_labels``, for semi-supervised experiments and the partial-label benchmark), and
the check that every task keeps a labelled row in every split."""

from __future__ import annotations

import torch

from sharenas.data.base import MultiDomainDataset, MultiTaskDataset, Split, TaskSetData
from sharenas.errors import DatasetError
from sharenas.tasks.labels import labelled_rows, mark_missing


def split_parts(split: Split) -> list[MultiTaskDataset]:
    """The row sets of a split: itself, or each domain's rows of a multi-domain split."""
    return list(split.domains.values()) if isinstance(split, MultiDomainDataset) else [split]


def drop_labels(data: TaskSetData, fractions: dict[str, float], seed: int) -> None:
    """Mark ``fractions[task]`` of each task's labelled training rows missing (in place), drawn
    with ``seed``; validation and test labels are kept, so every model is scored on the same
    rows. A task not in the set is a DatasetError naming ``data.drop_labels``."""
    specs = {spec.name: spec for spec in data.tasks}
    unknown = sorted(set(fractions) - set(specs))
    if unknown:
        raise DatasetError(
            f"data.drop_labels names {unknown}, which are not tasks of {data.name}; "
            f"its tasks are {sorted(specs)}."
        )
    generator = torch.Generator().manual_seed(seed)
    for part in split_parts(data.train):
        for task, fraction in fractions.items():
            if task not in part.targets:
                continue
            present = labelled_rows(specs[task], part.targets[task]).nonzero().reshape(-1)
            order = torch.randperm(len(present), generator=generator)
            dropped = present[order[: round(fraction * len(present))]]
            keep = torch.ones(len(part), dtype=torch.bool)
            keep[dropped] = False
            part.targets[task] = mark_missing(specs[task], part.targets[task], keep)


def check_labels(data: TaskSetData) -> None:
    """Every task has at least one labelled row in every split: a DatasetError naming the task
    and the split otherwise (its loss or its metrics would have nothing to average)."""
    for split, rows in data.splits.items():
        for part in split_parts(rows):
            for task, (labelled, total) in part.coverage().items():
                if labelled == 0:
                    raise DatasetError(
                        f"{data.name}: task {task!r} has no labelled row in the {split} split "
                        f"({total:,} rows, every label missing); give it labels there, lower "
                        "data.drop_labels, or leave the task out of the config."
                    )
