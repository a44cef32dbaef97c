"""Per-task losses of a batch, with the guard against NaN and infinite losses."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from sharenas.errors import TrainingError
from sharenas.tasks import TaskHandler
from sharenas.tasks.labels import labelled_part


def task_losses(
    handlers: list[TaskHandler],
    predictions: dict[str, torch.Tensor],
    targets: dict[str, torch.Tensor],
    where: str,
    checkpoint: Path,
) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """``({task: loss}, {task: loss value})`` for the tasks that ``targets`` holds (all of them,
    or one task's in a multi-domain batch) and labels in at least one row, each on its labelled
    rows only; a TrainingError naming the task and ``where`` (the
    step) when a loss is NaN or infinite, pointing at the last good ``checkpoint``."""
    losses = {}
    for h in handlers:
        if h.name not in targets:
            continue
        labelled = labelled_part(h.spec, predictions[h.name], targets[h.name])
        if labelled is not None:  # a batch without this task's labels adds nothing to it
            losses[h.name] = h.loss(labelled[0].float(), labelled[1])
    values = {name: float(loss.detach()) for name, loss in losses.items()}
    for name, value in values.items():
        if not math.isfinite(value):
            kept = (
                f"The last good checkpoint is {checkpoint} (kept; --resume continues from it)."
                if checkpoint.exists()
                else "No epoch had finished, so there is no checkpoint to resume from."
            )
            raise TrainingError(
                f"task {name!r}: loss is {value} at {where}. {kept} Lower train.lr, or check "
                "the inputs and the task's targets for invalid values (NaN, inf)."
            )
    return losses, values
