"""A FLOPs budget on what a search delivers (``search.max_flops``, FLOPs per example).

Every space honours it in its own way: the fusion search drops its weakest kept edges until the
derived network fits; the routing search's REINFORCE reward loses ``OVER_BUDGET_PENALTY`` per
hard-sharing chain of FLOPs a route uses beyond the budget (the FLOPs penalty of MTNAS turned into
a constraint, as MnasNet's reward turns latency into one), and the delivered route is the most
probable one that fits; the partition study prunes partitions over it (its
``study.flops_budget``). Random architectures of a space are drawn among those that fit.
"""

from __future__ import annotations

from typing import Any

import torch

from sharenas.errors import ConfigError
from sharenas.resources import flops_per_example
from sharenas.spaces.base import Genotype, Space

OVER_BUDGET_PENALTY = 10.0  # reward lost per hard-sharing chain of FLOPs over the budget
SAMPLE_TRIES = 1000  # draws per random architecture before the budget is declared unreachable


def genotype_flops(space: Space, genotype: Genotype, example: Any) -> int:
    """FLOPs per example of ``genotype``'s network as it is delivered (a partitioned network
    physically pruned)."""
    model = space.build(genotype)
    deployed = getattr(model, "deployed", None)
    if callable(deployed):
        model = deployed()
    return flops_per_example(model, example)


def sample_within(
    space: Space, generator: torch.Generator, max_flops: float | None, example: Any
) -> Genotype:
    """A point drawn uniformly among those of ``space`` within ``max_flops`` (rejection
    sampling; the unconstrained draw when there is no budget)."""
    for _ in range(SAMPLE_TRIES if max_flops is not None else 1):
        genotype = space.sample(generator)
        if max_flops is None or genotype_flops(space, genotype, example) <= max_flops:
            return genotype
    raise ConfigError(
        f"search.max_flops={max_flops:.4g}: none of {SAMPLE_TRIES} random {space.name} "
        "architectures fits it; raise the budget or leave this space out."
    )


def check_reachable(space: Space, max_flops: float | None, example: Any) -> None:
    """A clear error before a search starts when even the space's cheapest point is over
    ``max_flops``."""
    cheapest = space.cheapest() if max_flops is not None else None
    if cheapest is None:
        return
    flops = genotype_flops(space, cheapest, example)
    if flops > max_flops:  # type: ignore[operator]
        raise ConfigError(
            f"search.max_flops={max_flops:.4g}: the cheapest {space.name} architecture costs "
            f"{flops:.4g} FLOPs per example; raise the budget or search another space."
        )


def over_budget(cost: float, max_cost: float | None) -> float:
    """The reward a route loses for ``cost`` (hard-sharing chains) beyond ``max_cost``."""
    if max_cost is None:
        return 0.0
    return OVER_BUDGET_PENALTY * max(0.0, cost - max_cost)
