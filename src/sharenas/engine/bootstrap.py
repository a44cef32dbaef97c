"""How far a comparison on the validation rows can move by chance: the bootstrap (Efron, "Bootstrap
methods", Ann. Statist. 1979) of Δ_MTL between two trained models.

Both models predict the validation split once; each resample draws the rows with replacement
(each domain's rows on their own in a multi-domain split, the same rows for both models, so the
comparison is paired) and recomputes every task's primary metric with its own torchmetrics
metric. The standard deviation of Δ_MTL over the resamples is the noise of one validation
comparison: a difference well inside it is not evidence.
"""

from __future__ import annotations

import statistics

import torch
from torch import nn

from sharenas.data.base import MultiDomainDataset, MultiTaskDataset, Split
from sharenas.engine.evaluate import to_device
from sharenas.engine.task_subset import only_tasks
from sharenas.tasks import TaskHandler, delta_mtl
from sharenas.tasks.labels import labelled_part

Outputs = dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # task: (a, b, target)
MAX_VALUES = 50_000_000  # floats of predictions kept for the resamples (200 MB)


@torch.no_grad()
def paired_outputs(
    model: nn.Module,
    reference: nn.Module,
    handlers: list[TaskHandler],
    part: MultiTaskDataset,
    batch_size: int,
    device: torch.device,
) -> Outputs:
    """Both models' predictions and the targets of every task of one split part, on the CPU."""
    collected: dict[str, list[list[torch.Tensor]]] = {}
    states = (model.training, reference.training)
    model.eval(), reference.eval()
    for start in range(0, len(part), batch_size):
        x, y = part.batch(slice(start, start + batch_size))
        x, y = to_device(x, device), to_device(y, device)
        with only_tasks(model, y), only_tasks(reference, y):
            first, second = model(x), reference(x)
        for h in handlers:
            if h.name in y:
                rows = collected.setdefault(h.name, [[], [], []])
                values = (first[h.name], second[h.name], y[h.name])
                for kept, value in zip(rows, values, strict=True):
                    kept.append(value.float().cpu() if value.is_floating_point() else value.cpu())
    model.train(states[0]), reference.train(states[1])
    return {task: tuple(torch.cat(v) for v in rows) for task, rows in collected.items()}  # type: ignore[misc]


@torch.no_grad()
def _rows_within(model: nn.Module, part: MultiTaskDataset, device: torch.device) -> int:
    """How many of ``part``'s rows keep both models' outputs within :data:`MAX_VALUES` floats
    (all of a table's; the first few hundred images of a pixel-level task set)."""
    x, y = part.batch(slice(0, 2))
    was_training = model.training
    model.eval()
    with only_tasks(model, y):
        outputs = model(to_device(x, device))
    model.train(was_training)
    per_row = sum(v[0].numel() for v in outputs.values()) + sum(v[0].numel() for v in y.values())
    return max(32, MAX_VALUES // (2 * per_row))


def _targets(part: Outputs) -> torch.Tensor:
    return next(iter(part.values()))[2]


def _primary(handler: TaskHandler, prediction: torch.Tensor, target: torch.Tensor) -> float:
    """The primary metric on the task's labelled rows; a ValueError where there are none."""
    labelled = labelled_part(handler.spec, prediction, target)
    if labelled is None:
        raise ValueError(f"no labelled row of task {handler.name!r} in the resample")
    metric = handler.metric()
    metric.update(*labelled)
    return float(metric.compute()[handler.primary])


def bootstrap_delta_sd(
    model: nn.Module,
    reference: nn.Module,
    handlers: list[TaskHandler],
    split: Split,
    batch_size: int,
    device: torch.device,
    resamples: int = 100,
    seed: int = 0,
) -> float:
    """The standard deviation of Δ_MTL % (``model`` against ``reference``) over ``resamples``
    bootstrap resamples of ``split``'s rows."""
    parts = list(split.domains.values()) if isinstance(split, MultiDomainDataset) else [split]
    parts = [p.take(_rows_within(model, p, device)) for p in parts]
    outputs = [paired_outputs(model, reference, handlers, p, batch_size, device) for p in parts]
    generator = torch.Generator().manual_seed(seed)
    by_name = {h.name: h for h in handlers}
    directions = {h.name: h.higher_is_better for h in handlers}
    deltas = []
    for _ in range(resamples):
        first: dict[str, float] = {}
        second: dict[str, float] = {}
        indices = [
            torch.randint(len(_targets(p)), (len(_targets(p)),), generator=generator)
            for p in outputs
        ]
        try:
            for part, index in zip(outputs, indices, strict=True):
                for task, (a, b, target) in part.items():
                    first[task] = _primary(by_name[task], a[index], target[index])
                    second[task] = _primary(by_name[task], b[index], target[index])
            deltas.append(delta_mtl(first, second, directions))
        except ValueError:  # a resample where the reference scores 0 on a task, or no label
            continue
    return statistics.stdev(deltas) if len(deltas) > 1 else float("inf")
