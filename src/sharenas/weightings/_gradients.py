"""Per-task gradients for the gradient-based weightings: one ``torch.autograd.grad`` per present
task over the optimiser's parameters, unscaled (fp16 AMP), averaged over processes (DDP), and the
split of the parameters into shared ones (a gradient from two or more tasks) and task-specific
ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    """Processes of the running process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def all_mean(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` averaged over processes, in place (unchanged in one process)."""
    world = world_size()
    if world > 1:
        dist.all_reduce(tensor)
        tensor /= world
    return tensor


def average_grads(parameters: Sequence[nn.Parameter]) -> None:
    """Average ``.grad`` over processes in one all-reduce (the forward ran without DDP's sync)."""
    if world_size() == 1:
        return
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return
    flat = all_mean(torch.cat([p.grad.reshape(-1).float() for p in with_grad]))
    for p, g in zip(with_grad, flat.split([p.numel() for p in with_grad]), strict=True):
        p.grad.copy_(g.view_as(p.grad))


def grad_scale(scaler: torch.amp.GradScaler) -> float:
    """The factor fp16 AMP multiplies the losses by (1 without a scaler)."""
    return float(scaler.get_scale()) if scaler.is_enabled() else 1.0


def present_tasks(
    tasks: list[str], losses: Mapping[str, torch.Tensor], device: torch.device
) -> list[str]:
    """The tasks with a loss in this process or, under DDP, in any process (same order
    everywhere), so that every process takes the same autograd calls."""
    here = torch.tensor([float(t in losses) for t in tasks], device=device)
    if world_size() > 1:
        dist.all_reduce(here)
    return [t for t, n in zip(tasks, here.tolist(), strict=True) if n > 0]


def loss_values(
    tasks: list[str], losses: Mapping[str, torch.Tensor], device: torch.device
) -> torch.Tensor:
    """Each task's loss value, averaged over the processes that hold it (float64, CPU)."""
    both = torch.zeros(2, len(tasks), device=device)
    for i, t in enumerate(tasks):
        if t in losses:
            both[0, i], both[1, i] = losses[t].detach().float(), 1.0
    if world_size() > 1:
        dist.all_reduce(both)
    return (both[0] / both[1].clamp(min=1)).double().cpu()


def unique(parameters: Sequence[nn.Parameter]) -> list[nn.Parameter]:
    seen: set[int] = set()
    kept = []
    for p in parameters:
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            kept.append(p)
    return kept


@dataclass
class TaskGradients:
    """The present tasks' gradients over ``params`` (flattened and concatenated), unscaled and
    averaged over processes; ``used[i, j]``: task i reaches parameter j."""

    tasks: list[str]
    params: list[nn.Parameter]
    matrix: torch.Tensor  # (tasks, Σ numel), float32
    used: torch.Tensor  # (tasks, params), bool
    values: torch.Tensor  # (tasks,) loss values, float64 on the CPU

    @property
    def shared_params(self) -> torch.Tensor:
        """Per parameter: a gradient from two or more present tasks."""
        return self.used.sum(0) >= 2

    @property
    def shared_columns(self) -> torch.Tensor:
        sizes = torch.tensor([p.numel() for p in self.params], device=self.matrix.device)
        return self.shared_params.to(self.matrix.device).repeat_interleave(sizes)

    def shared(self) -> torch.Tensor:
        """(tasks, shared coordinates): the gradients the methods combine."""
        return self.matrix[:, self.shared_columns]

    def finite(self) -> bool:
        return bool(torch.isfinite(self.matrix).all())

    def write(self, shared: torch.Tensor | None, weights: torch.Tensor, scale: float) -> None:
        """``.grad`` of every reached parameter: ``shared`` on the shared coordinates (None: the
        weighted sum there too), Σ_i weights_i g_i on the task-specific ones; multiplied by
        ``scale`` so that the GradScaler's step unscales and checks them as usual."""
        w = weights.to(self.matrix.device, self.matrix.dtype)
        direction = w @ self.matrix
        if shared is not None:
            direction[self.shared_columns] = shared.to(direction.dtype)
        direction *= scale
        reached = self.used.any(0).tolist()
        chunks = direction.split([p.numel() for p in self.params])
        for p, chunk, hit in zip(self.params, chunks, reached, strict=True):
            if hit:
                p.grad = chunk.view_as(p).to(p.dtype).clone()


def task_gradients(
    tasks: list[str],
    losses: Mapping[str, torch.Tensor],
    parameters: Sequence[nn.Parameter],
    scaler: torch.amp.GradScaler,
    keep_graph: bool = False,
) -> TaskGradients:
    """Each present task's gradient of its (scaled) loss over ``parameters``, divided by the
    scale, averaged over processes. A task absent here but present in another process
    differentiates zero times a present loss, so every process runs the same backward passes
    (synchronised batch norms communicate in theirs). ``keep_graph``: the graph survives (for a
    backward after)."""
    params = unique(parameters)
    device = params[0].device if params else torch.device("cpu")
    present = present_tasks(tasks, losses, device)
    scale = grad_scale(scaler)
    sizes = [p.numel() for p in params]
    matrix = torch.zeros(len(present), sum(sizes), device=device)
    used = torch.zeros(len(present), len(params), device=device)
    anchor = next(iter(losses.values()), None)
    for i, task in enumerate(present):
        loss = losses.get(task)
        target = loss if loss is not None else None if anchor is None else 0.0 * anchor
        if target is None or not params:
            continue
        last = i == len(present) - 1 and not keep_graph
        grads = torch.autograd.grad(
            scaler.scale(target), params, retain_graph=not last, allow_unused=True
        )
        for j, (g, chunk) in enumerate(zip(grads, matrix[i].split(sizes), strict=True)):
            if g is not None:
                chunk.copy_(g.reshape(-1).float() / scale)
                used[i, j] = float(loss is not None)
    if world_size() > 1:
        all_mean(matrix)
        dist.all_reduce(used)
    values = loss_values(present, losses, device)
    return TaskGradients(present, params, matrix, used > 0, values)
