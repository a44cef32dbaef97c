"""Hard parameter sharing (Caruana, 1997): a shared bottom and one head (tower) per task.

It is the routing space's one-chain genotype, so it is built by
:class:`~sharenas.spaces.routing.RoutingSpace` (one code path with the routing search).
"""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.spaces.routing import RoutingNetwork, RoutingSpaceConfig, routing_space


@register_architecture("hard-sharing")
def hard_sharing(tasks, input_spec, config) -> RoutingNetwork:  # type: ignore[no-untyped-def]
    space = routing_space(tasks, input_spec, config, RoutingSpaceConfig(experts=1))
    return space.build(space.hard_sharing())
