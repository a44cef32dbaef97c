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

Statistic = dict[str, float | int]


def target_statistic(task: TaskSpec, target: torch.Tensor) -> Statistic:
    """A split's targets for ``task`` as raw numbers (class shares, positive rate, range…) over
    its labelled rows, with the label coverage (``labelled`` of ``rows``) where some rows have
    none; :func:`describe` reads them as one line."""
    if target.numel() == 0:
        return {"rows": 0}
    labelled, rows = coverage(task, target)
    if labelled == rows:
        return _statistic(task, target)
    counts: Statistic = {"labelled": labelled, "rows": rows}
    if labelled == 0:
        return counts
    return counts | _statistic(task, target[labelled_rows(task, target)])


def _statistic(task: TaskSpec, target: torch.Tensor) -> Statistic:
    if task.kind is TaskKind.CLASSIFICATION:
        counts = torch.bincount(target.long().flatten(), minlength=task.num_classes).double()
        share = counts / counts.sum()
        return {"class_share_min": float(share.min()), "class_share_max": float(share.max())}
    if task.kind is TaskKind.BINARY:
        return {"positive_rate": float(target.float().mean())}
    if task.kind is TaskKind.SEGMENTATION:
        labels = target.long().flatten()
        if task.ignore_index is not None:
            labels = labels[labels != task.ignore_index]
        return {"classes_present": int(torch.unique(labels).numel()), "classes": task.num_classes}
    if task.kind is TaskKind.NORMAL:
        return {"valid_pixels": float((target.float().norm(dim=1) > 0).float().mean())}
    values = target.float()
    if task.kind is TaskKind.DEPTH:
        values = values[values > 0]
        if values.numel() == 0:
            return {"valid_pixels": 0.0}
    return {
        "mean": float(values.mean()),
        "std": float(values.std()) if values.numel() > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def describe(statistic: Statistic) -> str:
    """:func:`target_statistic` in one line (``positive rate 6.21%``, ``mean 0.371 ± 1.16, range
    [-6.67, 5.01]``, ``50.0% labelled (20 of 40 rows); …``)."""
    s = statistic
    parts = []
    if "domain_rows" in s:
        parts.append(f"{s['domain_rows']:,} rows")
    if "labelled" in s:
        parts.append(
            f"{s['labelled'] / s['rows']:.1%} labelled ({s['labelled']:,} of {s['rows']:,} rows)"
        )
    if s.get("rows") == 0:
        parts.append("empty")
    if "class_share_min" in s:
        parts.append(f"class share {s['class_share_min']:.1%}–{s['class_share_max']:.1%}")
    if "positive_rate" in s:
        parts.append(f"positive rate {s['positive_rate']:.2%}")
    if "classes_present" in s:
        parts.append(f"{s['classes_present']}/{s['classes']} classes present")
    if "valid_pixels" in s:
        parts.append(
            f"valid pixels {s['valid_pixels']:.1%}" if s["valid_pixels"] else "no valid pixels"
        )
    if "mean" in s:
        parts.append(
            f"mean {s['mean']:.3g} ± {s['std']:.3g}, range [{s['min']:.3g}, {s['max']:.3g}]"
        )
    return "; ".join(parts)


def targets_table(data: TaskSetData) -> Table:
    """:func:`summarize` as a table."""
    rows = summarize(data)
    columns = [
        Column(name, key=name == "task") if name in ("task", "kind") else Column(name, describe)
        for name in rows[0]
    ]
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


def summarize(data: TaskSetData) -> list[dict[str, Any]]:
    """A row per task: name, kind, and the statistic on each split (raw numbers)."""
    rows = []
    for task in data.tasks:
        row = {"task": task.name, "kind": task.describe()}
        for split, dataset in data.splits.items():
            if isinstance(dataset, MultiDomainDataset):  # each task has its own rows
                own = dataset.domains[task.name]
                statistic = target_statistic(task, own.targets[task.name])
                row[split] = {"domain_rows": len(own)} | statistic
            else:
                row[split] = target_statistic(task, dataset.targets[task.name])
        rows.append(row)
    return rows
