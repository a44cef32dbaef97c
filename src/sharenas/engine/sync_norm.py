"""Batch norm over every process of a ``torchrun`` launch, on any device (torch's
``SyncBatchNorm`` needs a GPU).

In training mode each norm all-reduces its rows' per-channel sums, sums of squares and count, so
its statistics are those of the global batch, as one process would compute them, and gradients
flow back through the reduction (``torch.distributed.nn.functional.all_reduce``). Under DDP,
which averages the processes' gradients, training then matches one process up to float
reordering. Modules keep their identity, class (a subclass), parameters and buffers, so state
dicts and code that finds norms by type are unaffected.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce


def _synced_forward(norm: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    channels = x.shape[1]
    dims = [0, *range(2, x.dim())]
    count = torch.full((1,), x.numel() / channels, dtype=torch.float64, device=x.device)
    wide = x.double()  # E[x²] − E[x]² in float64: as exact as one process's float32 norm
    local = torch.cat([wide.sum(dims), (wide**2).sum(dims), count])
    total = all_reduce(local)
    n = total[-1]
    mean64 = total[:channels] / n
    var = (total[channels : 2 * channels] / n - mean64**2).clamp_min(0).float()
    mean, n = mean64.float(), n.float()
    if norm.track_running_stats and norm.running_mean is not None:
        with torch.no_grad():
            norm.num_batches_tracked += 1
            momentum = (
                1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
            )
            unbiased = var * n / (n - 1).clamp_min(1)
            norm.running_mean.mul_(1 - momentum).add_(momentum * mean)
            norm.running_var.mul_(1 - momentum).add_(momentum * unbiased)
    shape = [1, channels] + [1] * (x.dim() - 2)
    y = (x.float() - mean.view(shape)) / torch.sqrt(var.view(shape) + norm.eps)
    if norm.affine:
        y = y * norm.weight.view(shape) + norm.bias.view(shape)
    return y.to(x.dtype)


class SyncedBatchNorm1d(nn.BatchNorm1d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and dist.is_available() and dist.is_initialized():
            return _synced_forward(self, x)
        return super().forward(x)


class SyncedBatchNorm2d(nn.BatchNorm2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and dist.is_available() and dist.is_initialized():
            return _synced_forward(self, x)
        return super().forward(x)


def synchronize_batch_norms(model: nn.Module) -> int:
    """Make every BatchNorm1d/2d of ``model`` synchronized, in place; returns how many."""
    swapped = 0
    for module in model.modules():
        if type(module) is nn.BatchNorm1d:
            module.__class__ = SyncedBatchNorm1d
            swapped += 1
        elif type(module) is nn.BatchNorm2d:
            module.__class__ = SyncedBatchNorm2d
            swapped += 1
    return swapped
