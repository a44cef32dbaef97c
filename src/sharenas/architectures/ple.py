"""Progressive Layered Extraction (Tang et al., RecSys 2020): stacked Customized Gate Control.

Each level (a backbone stage) has ``task_experts`` experts per task and ``shared_experts`` shared
ones. Task t's gate mixes its own and the shared experts' outputs, conditioned on task t's input
to that level (Eq. 4–5); a shared gate mixes every expert for the next level's shared input.
Towers read the last level's task mixtures.

It is a genotype of the routing space with K = T · task_experts + shared_experts, so it is built
by :class:`~sharenas.spaces.routing.RoutingSpace`.
"""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.spaces.routing import RoutingNetwork, RoutingSpaceConfig, routing_space


@register_architecture("ple")
def ple(tasks, input_spec, config) -> RoutingNetwork:  # type: ignore[no-untyped-def]
    experts = len(tasks) * config.task_experts + config.shared_experts
    space = routing_space(
        tasks, input_spec, config.for_experts(), RoutingSpaceConfig(experts=experts)
    )
    return space.build(space.ple(config.task_experts))
