"""Partial labels: which rows of a batch carry a task's target.

A target may be missing for a row. It is stored in the target tensor itself, so that every
split, batch and slice carries it without a second tensor: ``NaN`` for real-valued kinds
(binary, regression), :data:`MISSING_CLASS` for class labels, and, for the dense kinds, a map
with no valid pixel (``ignore_index`` everywhere, non-positive depth, zero normals). Losses and
metrics see each task's labelled rows only (:func:`labelled_part`): a batch without a label for a
task contributes nothing to it (LibMTL issue #11; the masked loss of multi-task semi-supervised
training, e.g. Kokkinos, UberNet, CVPR 2017).
"""

from __future__ import annotations

import torch

from sharenas.tasks.spec import TaskKind, TaskSpec

#: The class label of a row whose label is missing (classification targets are int64).
MISSING_CLASS = -1


def labelled_rows(spec: TaskSpec, target: torch.Tensor) -> torch.Tensor:
    """A boolean per row of ``target`` (rows first): True where the task's label is present."""
    flat = target.reshape(len(target), -1)
    if spec.kind is TaskKind.CLASSIFICATION:
        return (flat != MISSING_CLASS).all(1)
    if spec.kind in (TaskKind.BINARY, TaskKind.REGRESSION):
        # NaN marks a missing label; an infinite one is a bad value, left to the NaN guard
        return ~flat.isnan().any(1) if flat.is_floating_point() else _all_rows(flat)
    if spec.kind is TaskKind.SEGMENTATION:
        if spec.ignore_index is None:
            return (flat != MISSING_CLASS).all(1)
        return ((flat != spec.ignore_index) & (flat != MISSING_CLASS)).any(1)
    if spec.kind is TaskKind.DEPTH:
        return (flat > 0).any(1)
    return (flat != 0).any(1)  # normal: a zero vector is an invalid pixel


def _all_rows(flat: torch.Tensor) -> torch.Tensor:
    return torch.ones(len(flat), dtype=torch.bool, device=flat.device)


def labelled_part(
    spec: TaskSpec, prediction: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(prediction, target)`` of the rows labelled for the task; the tensors themselves when
    every row is; None when none is (the batch contributes nothing to this task)."""
    rows = labelled_rows(spec, target)
    if bool(rows.all()):
        return prediction, target
    if not bool(rows.any()):
        return None
    return prediction[rows], target[rows]


def mark_missing(spec: TaskSpec, target: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
    """``target`` with the rows where ``labelled`` is False marked missing (a copy, in its own
    dtype where that holds the mark, so a uint8 map stays one; else int64 for class labels,
    float32 for real values)."""
    if spec.kind in (TaskKind.CLASSIFICATION, TaskKind.SEGMENTATION):
        ignored = spec.ignore_index if spec.kind is TaskKind.SEGMENTATION else None
        mark = MISSING_CLASS if ignored is None else ignored
        integral = not target.is_floating_point() and target.dtype != torch.bool
        limits = torch.iinfo(target.dtype) if integral else None
        fits = limits is not None and limits.min <= mark <= limits.max
        marked = target.clone() if fits else target.long().clone()
    elif spec.kind in (TaskKind.BINARY, TaskKind.REGRESSION):
        marked = target.clone() if target.is_floating_point() else target.float().clone()
        mark = float("nan")
    else:  # depth, normal: a map without a valid pixel (0 fits every dtype)
        marked, mark = target.clone(), 0
    marked[~labelled.bool()] = mark
    return marked


def coverage(spec: TaskSpec, target: torch.Tensor) -> tuple[int, int]:
    """(labelled rows, rows) of a task's targets."""
    return int(labelled_rows(spec, target).sum()), len(target)
