"""A searched routing architecture: the genotype of a routing search's ``arch.json``, trained
from scratch (``sharenas train --arch search/arch.json``, or the search's ``derive: retrain``)."""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.architectures.base import searched_genotype
from sharenas.spaces.routing import (
    RoutingGenotype,
    RoutingNetwork,
    RoutingSpaceConfig,
    routing_space,
)


@register_architecture("routing")
def searched_routing(tasks, input_spec, config) -> RoutingNetwork:  # type: ignore[no-untyped-def]
    parsed, settings = searched_genotype(config, "routing", RoutingGenotype, RoutingSpaceConfig)
    return routing_space(tasks, input_spec, config, settings).build(parsed)
