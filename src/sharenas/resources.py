"""Resources of a model: parameters and FLOPs per example (``torch.utils.flop_counter``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_example(model: nn.Module, example_batch: Any) -> int:
    """FLOPs of one forward pass per example (a multiply-add counts 2), in eval mode."""
    if isinstance(example_batch, dict):
        batch = len(next(iter(example_batch.values())))
    else:
        batch = len(example_batch)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example_batch)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops() // max(1, batch))


def delivered(model: nn.Module) -> nn.Module:
    """The network a run delivers for inference: a channel partition physically pruned
    (Feature Partitioning's deployed network), any other as it is."""
    deployed = getattr(model, "deployed", None)
    return deployed() if callable(deployed) else model


def delivered_flops(model: nn.Module, example_batch: Any) -> int:
    """FLOPs per example of ``model`` as it is delivered (:func:`delivered`)."""
    return flops_per_example(delivered(model), example_batch)
