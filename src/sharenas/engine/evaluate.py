"""Evaluation: per-task metrics over a whole split."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sharenas.data.base import MultiDomainDataset, MultiTaskDataset, Split
from sharenas.engine.task_subset import only_tasks
from sharenas.tasks import TaskHandler
from sharenas.tasks.labels import labelled_part


def to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, dict):
        return {k: v.to(device, non_blocking=True) for k, v in x.items()}
    return x.to(device, non_blocking=True)


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    dtype = (
        torch.bfloat16
        if device.type == "cuda" and torch.cuda.is_bf16_supported()
        else (torch.float16)
    )
    return torch.autocast(
        device_type=device.type, dtype=dtype, enabled=enabled and device.type == "cuda"
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    handlers: list[TaskHandler],
    dataset: Split,
    batch_size: int,
    device: torch.device,
    amp: bool = False,
    rank: int = 0,
    world: int = 1,
) -> dict[str, dict[str, float]]:
    """``{task: {metric: value}}``; with several processes each takes every world-th row of
    each batch and torchmetrics combines their states. In a multi-domain split each task is
    scored on its own rows; with partial labels, on its labelled rows."""
    was_training = model.training
    model.eval()
    metrics = {h.name: h.metric().to(device) for h in handlers}
    if isinstance(dataset, MultiDomainDataset):
        parts: list[MultiTaskDataset] = list(dataset.domains.values())
    else:
        parts = [dataset]
    for part in parts:
        for start in range(0, len(part), batch_size):
            rows = _share(start, min(start + batch_size, len(part)), rank, world)
            if rows is None:
                continue
            x, y = part.batch(rows)
            x, y = to_device(x, device), to_device(y, device)
            with autocast(device, amp), only_tasks(model, y):
                predictions = model(x)
            for h in handlers:
                if h.name not in y:
                    continue
                labelled = labelled_part(h.spec, predictions[h.name], y[h.name])
                if labelled is None and world > 1:  # every process's states must gather
                    labelled = predictions[h.name][:0], y[h.name][:0]
                if labelled is not None:
                    metrics[h.name].update(labelled[0].float(), labelled[1])
    model.train(was_training)
    return {
        name: {k: float(v) for k, v in metric.compute().items()} for name, metric in metrics.items()
    }


def _share(start: int, end: int, rank: int, world: int) -> slice | torch.Tensor | None:
    """This process's rows of the batch ``start:end``: all of them in one process, else every
    world-th (so that every process scores rows of every batch, and a split smaller than one
    batch still gives each process some); None where none is left."""
    if world == 1:
        return slice(start, end)
    rows = torch.arange(start, end)[rank::world]
    return rows if len(rows) else None


def primary_metrics(
    results: dict[str, dict[str, float]], handlers: list[TaskHandler]
) -> dict[str, float]:
    return {h.name: results[h.name][h.primary] for h in handlers}


def relative_score(
    primary: dict[str, float], reference: dict[str, float], handlers: list[TaskHandler]
) -> float:
    """Mean signed relative change against ``reference`` (higher is better): the early-stopping
    criterion, scale-free across tasks."""
    terms = []
    for h in handlers:
        ref = reference[h.name]
        sign = 1.0 if h.higher_is_better else -1.0
        terms.append(sign * (primary[h.name] - ref) / (abs(ref) + 1e-12))
    return sum(terms) / len(terms)
