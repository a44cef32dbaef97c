"""Heads that start at the training targets' prior (``model.head_bias: prior``).

A zero-input prediction equal to the prior (mean, log-odds, log class frequencies) removes the
first steps a network otherwise spends learning the base rate, and the large early gradients of
an unbalanced binary task (the initialisation advice of Karpathy's "A recipe for training neural
networks", 2019, and of focal-loss detectors, Lin et al., ICCV 2017, §4.1)."""

from __future__ import annotations

import torch
from torch import nn

from sharenas.data.base import Split, task_targets
from sharenas.errors import ConfigError
from sharenas.tasks import TaskHandler
from sharenas.tasks.labels import labelled_rows


def output_layer(head: nn.Module) -> nn.Module:
    """The last layer of ``head`` with a bias (its output layer)."""
    layers = [m for m in head.modules() if isinstance(m, nn.Linear | nn.Conv2d)]
    if not layers or layers[-1].bias is None:
        raise ConfigError(
            "model.head_bias: prior needs heads that end in a linear or conv layer with a bias; "
            "use head_bias: default"
        )
    return layers[-1]


@torch.no_grad()
def set_prior_biases(model: nn.Module, handlers: list[TaskHandler], train: Split) -> None:
    """Each head's output bias set to its task's prior on ``train``; kinds without a prior
    (surface normals) keep theirs."""
    heads = getattr(model, "heads", None)
    if not isinstance(heads, nn.ModuleDict):
        raise ConfigError(f"model.head_bias: prior: {type(model).__name__} has no task heads")
    for handler in handlers:
        targets = task_targets(train, handler.name)
        prior = handler.prior_bias(targets[labelled_rows(handler.spec, targets)])
        if prior is None:
            continue
        bias = output_layer(heads[handler.name]).bias
        bias.copy_(prior.to(bias.dtype).expand_as(bias))
