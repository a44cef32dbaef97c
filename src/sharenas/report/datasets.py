"""Summaries of task sets: split sizes and per-task target statistics."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import ValidationError

from sharenas.data import dataset_names, get_dataset_class
from sharenas.data.base import MultiDomainDataset, TaskSetData
from sharenas.tabular import Column, Table
from sharenas.tasks.labels import coverage, labelled_rows
from sharenas.tasks.spec import TaskKind, TaskSpec


def target_statistic(task: TaskSpec, target: torch.Tensor) -> str:
    """One line on a split's targets for ``task`` (class balance, positive rate, range…) over
    its labelled rows, with the label coverage where some rows have none."""
    if target.numel() == 0:
        return "empty"
    labelled, rows = coverage(task, target)
    if labelled == rows:
        return _statistic(task, target)
    share = f"{labelled / rows:.1%} labelled ({labelled:,} of {rows:,} rows)"
    if labelled == 0:
        return share
    return f"{share}; {_statistic(task, target[labelled_rows(task, target)])}"


def _statistic(task: TaskSpec, target: torch.Tensor) -> str:
    if task.kind is TaskKind.CLASSIFICATION:
        counts = torch.bincount(target.long().flatten(), minlength=task.num_classes).double()
        share = counts / counts.sum()
        return f"class share {share.min():.1%}–{share.max():.1%}"
    if task.kind is TaskKind.BINARY:
        return f"positive rate {target.float().mean():.2%}"
    if task.kind is TaskKind.SEGMENTATION:
        labels = target.long().flatten()
        if task.ignore_index is not None:
            labels = labels[labels != task.ignore_index]
        present = int(torch.unique(labels).numel())
        return f"{present}/{task.num_classes} classes present"
    if task.kind is TaskKind.NORMAL:
        norms = target.float().norm(dim=1)
        return f"valid pixels {(norms > 0).float().mean():.1%}"
    values = target.float()
    if task.kind is TaskKind.DEPTH:
        values = values[values > 0]
        if values.numel() == 0:
            return "no valid pixels"
    spread = f"mean {values.mean():.3g} ± {values.std():.3g}"
    return f"{spread}, range [{values.min():.3g}, {values.max():.3g}]"


def targets_table(data: TaskSetData) -> Table:
    """:func:`summarize` as a table."""
    rows = summarize(data)
    columns = [Column(name, key=name == "task") for name in rows[0]]
    return Table(f"{data.name} targets", columns, [list(row.values()) for row in rows])


def catalog_row(name: str) -> list[Any]:
    """A registered dataset: name, tasks, split sizes, cached, source, licence."""
    cls = get_dataset_class(name)
    try:
        builder = cls(cls.config_class())  # type: ignore[call-arg]
    except ValidationError:
        builder = None
    if builder is None:
        tasks = "declared in the config (data.targets)"
        return [name, tasks, "from the file", None, cls.source, cls.license]
    tasks = [f"{t.name}: {t.describe()}" for t in builder.tasks()]
    sizes = builder.split_sizes() or "from the files"
    cached = "generated on demand" if builder.generated else builder.is_cached()
    return [name, tasks, sizes, cached, cls.source, cls.license]


def catalog_table() -> Table:
    """Every registered dataset (``sharenas datasets list``)."""
    columns = [
        Column("name", key=True),
        Column("tasks", _lines),
        Column("sizes (train/val/test)", _sizes),
        Column("cached", _cached),
        Column("source"),
        Column("license"),
    ]
    return Table("sharenas datasets", columns, [catalog_row(n) for n in dataset_names()])


def _sizes(sizes: dict[str, int] | str) -> str:
    return sizes if isinstance(sizes, str) else "/".join(f"{n:,}" for n in sizes.values())


def _cached(cached: bool | str) -> str:
    """yes, no, or that the set is generated on every load."""
    return cached if isinstance(cached, str) else "yes" if cached else "no"


def _lines(values: list[str]) -> str:
    return "\n".join(values)


def summarize(data: TaskSetData) -> list[dict[str, str]]:
    """A row per task: name, kind, and the statistic on each split."""
    rows = []
    for task in data.tasks:
        row = {"task": task.name, "kind": task.describe()}
        for split, dataset in data.splits.items():
            if isinstance(dataset, MultiDomainDataset):  # each task has its own rows
                own = dataset.domains[task.name]
                statistic = target_statistic(task, own.targets[task.name])
                row[split] = f"{len(own):,} rows; {statistic}"
            else:
                row[split] = target_statistic(task, dataset.targets[task.name])
        rows.append(row)
    return rows
