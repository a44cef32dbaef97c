"""A FLOPs budget on what a search delivers (``search.max_flops``, FLOPs per example).

Every space honours it in its own way: the fusion search drops its weakest kept edges until the
derived network fits; the routing search's REINFORCE reward loses ``OVER_BUDGET_PENALTY`` per
hard-sharing chain of FLOPs a route uses beyond the budget (the FLOPs penalty of MTNAS turned into
a constraint, as MnasNet's reward turns latency into one), and the delivered route is the most
probable one that fits; the partition study prunes partitions over it before evaluating them
(NSGA-II's constraint: the excess in units of share-all's FLOPs). Random architectures of a
space are drawn among those that fit.
"""

from __future__ import annotations

from typing import Any

import torch

from sharenas.errors import ConfigError
from sharenas.resources import delivered_flops
from sharenas.spaces.base import Genotype, Space

OVER_BUDGET_PENALTY = 10.0  # reward lost per hard-sharing chain of FLOPs over the budget
SAMPLE_TRIES = 1_000  # draws per random architecture, each network built and counted
ESTIMATED_TRIES = 50_000  # draws per random architecture with the space's cheap estimate


def genotype_flops(space: Space, genotype: Genotype, example: Any) -> int:
    """FLOPs per example of ``genotype``'s network as it is delivered (a partitioned network
    physically pruned)."""
    return delivered_flops(space.build(genotype), example)


def sample_within(
    space: Space, generator: torch.Generator, max_flops: float | None, example: Any, count: int
) -> list[Genotype]:
    """``count`` points drawn uniformly among those of ``space`` within ``max_flops`` (rejection
    sampling: draws the space's cheap estimate puts over the budget are rejected unbuilt, the
    others checked exactly; unconstrained draws when there is no budget)."""
    if max_flops is None:
        return [space.sample(generator) for _ in range(count)]
    estimate = space.flops_estimate(example)
    tries = SAMPLE_TRIES if estimate is None else ESTIMATED_TRIES
    drawn: list[Genotype] = []
    for _ in range(tries * count):
        genotype = space.sample(generator)
        if estimate is not None and estimate(genotype) > max_flops * 1.01:
            continue  # the estimate leaves out only small gates: clearly over the budget
        if genotype_flops(space, genotype, example) <= max_flops:
            drawn.append(genotype)
            if len(drawn) == count:
                return drawn
    raise ConfigError(
        f"search.max_flops={max_flops:.4g}: {len(drawn)} of {tries * count} random "
        f"{space.name} architectures fit it, {count} were asked for; raise the budget or leave "
        "this space out."
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


def _neighbours(space: Space, genotype: Genotype) -> list[Genotype]:
    """The points one decision away from ``genotype`` (spaces with indexed decisions: routing);
    an empty list for a space without them."""
    if not all(hasattr(space, n) for n in ("choices", "indices_of", "genotype_from")):
        return []
    start = space.indices_of(genotype)  # type: ignore[attr-defined]
    found = []
    for i, choice in enumerate(space.choices()):  # type: ignore[attr-defined]
        for option in range(len(choice.options)):
            if option != start[i]:
                changed = [*start[:i], option, *start[i + 1 :]]
                found.append(space.genotype_from(changed))  # type: ignore[attr-defined]
    return found


def networks_within(
    space: Space,
    generator: torch.Generator,
    max_flops: float,
    example: Any,
    tries: int = 2_000,
) -> int:
    """How many networks (canonical forms, :meth:`Space.canonical`) are known within
    ``max_flops``, counted up to 2: the space's cheapest point, every point one decision away
    from it (where the space indexes its decisions), then up to ``tries`` random draws. 1 is
    claimed only for a space with a cheapest point and indexed decisions (another network is
    then at least two decisions away from it and missed by every draw); 2 otherwise."""
    cheapest = space.cheapest()
    neighbours = _neighbours(space, cheapest) if cheapest is not None else []
    if not neighbours:
        return 2  # nothing is claimed of a space that cannot be explored around its cheapest
    estimate = space.flops_estimate(example)
    found = {space.canonical(cheapest)}
    drawn = (space.sample(generator) for _ in range(tries))
    for genotype in (*neighbours, *drawn):
        form = space.canonical(genotype)
        if form in found or (estimate is not None and estimate(genotype) > max_flops * 1.01):
            continue
        if genotype_flops(space, genotype, example) <= max_flops:
            return 2
    return 1
