"""A searched routing architecture: the genotype of a routing search's ``arch.json``, trained
from scratch (``sharenas train --arch search/arch.json``, or the search's ``derive: retrain``)."""

from __future__ import annotations

from sharenas.architectures.base import register_architecture, routing_space, space_config
from sharenas.errors import ConfigError
from sharenas.spaces.routing import RoutingGenotype, RoutingNetwork, RoutingSpaceConfig


@register_architecture("routing")
def searched_routing(tasks, input_spec, config) -> RoutingNetwork:  # type: ignore[no-untyped-def]
    genotype = config.genotype
    if not genotype:
        raise ConfigError(
            "architecture 'routing' needs model.genotype: pass a routing search's "
            "arch.json with --arch."
        )
    parsed = RoutingGenotype.from_dict(genotype)
    space = routing_space(tasks, input_spec, config, space_config(RoutingSpaceConfig, genotype))
    return space.build(parsed)
