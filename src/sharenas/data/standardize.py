"""Regression targets on one scale: each regression task's training mean and standard deviation
recorded on its :class:`~sharenas.tasks.spec.TaskSpec`, so that its loss is computed in standard
units and its head ends in the inverse map (:class:`sharenas.tasks.heads.Unstandardize`):
predictions, metrics and exports stay in the target's own unit.

Why: a loss in the target's unit weighs a task by its unit's scale. On UCI Adult, five binary
targets beside age in years (MSE ≈ 540) gave hard-sharing −8.8 % Δ_MTL against single-task, the
binary tasks collapsing; without the age target, a tie: the "negative transfer" was the age loss's
scale. Standardising with training statistics is the usual fix (LibMTL and torch-rechub leave it
to the user). ``data.standardize_targets: false`` keeps the old behaviour. Only
``regression`` tasks are touched: dense ``depth`` and ``normal`` tasks keep their losses (L1 on
valid pixels, cosine), as the dense-prediction literature and LibMTL train them.
"""

from __future__ import annotations

import torch

from sharenas.data.base import TaskSetData, task_targets
from sharenas.tasks.labels import labelled_rows
from sharenas.tasks.spec import TaskKind, TaskSpec


def target_statistics(targets: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per output dimension: the mean and standard deviation (1 for a constant target)."""
    flat = targets.double().reshape(len(targets), -1)
    mean = flat.mean(0)
    std = flat.std(0, unbiased=False) if len(flat) > 1 else torch.ones_like(mean)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return tuple(map(float, mean)), tuple(map(float, std))


def standardized_specs(data: TaskSetData) -> list[TaskSpec]:
    """``data``'s tasks, each regression task carrying its training statistics."""
    specs = []
    for spec in data.tasks:
        if spec.kind is TaskKind.REGRESSION:
            targets = task_targets(data.train, spec.name)
            mean, std = target_statistics(targets[labelled_rows(spec, targets)])
            spec = spec.model_copy(update={"target_mean": mean, "target_std": std})
        specs.append(spec)
    return specs


def standardize_targets(data: TaskSetData) -> TaskSetData:
    """``data`` with its regression tasks' statistics recorded (in place; returned)."""
    data.tasks = standardized_specs(data)
    return data
