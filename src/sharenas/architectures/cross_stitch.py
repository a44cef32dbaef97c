"""Cross-stitch networks (Misra et al., CVPR 2016).

One backbone per task; after every stage but the last, task t continues with
x̃_t = Σ_s α_ts x_s, a learned per-channel linear combination of all tasks' features at that
stage (Eq. 1 of the paper), initialised with α_tt = ``own_weight`` and the rest shared equally.
"""

from __future__ import annotations

import torch
from torch import nn

from sharenas.architectures._registry import register_architecture
from sharenas.architectures.base import PerTaskBackbones


class CrossStitchUnit(nn.Module):
    def __init__(self, tasks: int, channels: int, own_weight: float) -> None:
        super().__init__()
        other = (1.0 - own_weight) / max(1, tasks - 1)
        alpha = torch.full((tasks, tasks), other)
        alpha.fill_diagonal_(own_weight)
        self.alpha = nn.Parameter(alpha[:, :, None].repeat(1, 1, channels))  # (T, T, C)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        stacked = torch.stack(features, 0)  # (T, N, C, ...)
        shape = (*self.alpha.shape, *([1] * (stacked.dim() - 3)))  # broadcast over space
        alpha = self.alpha.view(shape[0], shape[1], 1, shape[2], *shape[3:])
        mixed = (alpha * stacked.unsqueeze(0)).sum(1)
        return list(mixed.unbind(0))


@register_architecture("cross-stitch")
class CrossStitch(PerTaskBackbones):
    def __init__(self, tasks, input_spec, config) -> None:  # type: ignore[no-untyped-def]
        super().__init__(tasks, input_spec, config)
        specs = self.backbones[0].stage_specs
        self.units = nn.ModuleList(
            CrossStitchUnit(len(tasks), spec.channels, config.own_weight) for spec in specs[:-1]
        )

    def exchange(self, stage: int, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.units[stage](features) if stage < len(self.units) else features
