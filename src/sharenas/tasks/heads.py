"""Task heads built from the feature shape: linear on vectors, pooled linear on maps for
image-level tasks, a small conv head upsampled to the input size for dense tasks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sharenas.blocks import Norm, linear_block
from sharenas.tasks.spec import TaskSpec


class DenseHead(nn.Module):
    def __init__(self, channels: int, out_channels: int, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, out_channels, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        out = self.body(features)
        if out.shape[-2:] != self.size:
            out = F.interpolate(out, size=self.size, mode="bilinear", align_corners=False)
        return out


@dataclass(frozen=True)
class Tower:
    """A task's MLP tower before its output layer: hidden ``widths`` (none: a linear head), each
    Linear → ``norm`` (batch, layer or none) → ReLU."""

    widths: tuple[int, ...] = ()
    norm: Norm = "none"

    def layers(self, width: int) -> tuple[list[nn.Module], int]:
        """The tower's layers on ``width`` input features, and its output width."""
        layers: list[nn.Module] = []
        for size in self.widths:
            layers += linear_block(width, size, self.norm)
            width = size
        return layers, width


class Unstandardize(nn.Module):
    """The last map of a standardised regression head: a prediction in standard units back to
    the target's unit, ``z · std + mean`` (constants of the task set, not trained, not saved in
    the weights: they come from the task's spec, :mod:`sharenas.data.standardize`)."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean), persistent=False)
        self.register_buffer("std", torch.tensor(std), persistent=False)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.std.to(z.dtype) + self.mean.to(z.dtype)


class SqueezeLast(nn.Module):
    """(N, 1) → (N,) for one-output tasks, so predictions have the target's shape."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.squeeze(-1)


def make_head(
    spec: TaskSpec,
    out_channels: int,
    feature_shape: tuple[int, ...],
    input_size: tuple[int, int] | None = None,
    tower: Tower = Tower(),
) -> nn.Module:
    """A head mapping features of ``feature_shape`` (without batch) to the task's output; on
    vector features ``tower`` comes before the output layer."""
    squeeze: list[nn.Module] = [SqueezeLast()] if out_channels == 1 and not spec.dense else []
    if spec.target_mean is not None and spec.target_std is not None and not spec.dense:
        squeeze = [Unstandardize(spec.target_mean, spec.target_std), *squeeze]
    if len(feature_shape) == 1:
        layers, width = tower.layers(feature_shape[0])
        return nn.Sequential(*layers, nn.Linear(width, out_channels), *squeeze)
    channels = feature_shape[0]
    if spec.dense:
        if input_size is None:
            raise ValueError(f"dense task {spec.name!r} needs the input size")
        return DenseHead(channels, out_channels, input_size)
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, out_channels), *squeeze
    )
