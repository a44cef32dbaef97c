"""Layers the backbones and the task towers share: Linear → norm → ReLU blocks."""

from __future__ import annotations

from typing import Literal

from torch import nn

Norm = Literal["none", "batch", "layer"]


def norm_layer(norm: Norm, width: int) -> list[nn.Module]:
    """The normalisation after a linear layer of ``width`` outputs (none: no layer)."""
    if norm == "batch":
        return [nn.BatchNorm1d(width)]
    if norm == "layer":
        return [nn.LayerNorm(width)]
    return []


def linear_block(width: int, size: int, norm: Norm, dropout: float = 0.0) -> list[nn.Module]:
    """Linear → norm → ReLU (→ dropout); before a batch norm the linear layer has no bias (the
    norm's shift replaces it: a bias there only carries Adam-amplified rounding noise)."""
    linear = nn.Linear(width, size, bias=norm != "batch")
    layers = [linear, *norm_layer(norm, size), nn.ReLU(inplace=True)]
    return [*layers, nn.Dropout(dropout)] if dropout else layers
