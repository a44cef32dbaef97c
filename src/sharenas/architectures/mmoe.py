"""Multi-gate Mixture-of-Experts (Ma et al., KDD 2018).

K experts (each a chain of the backbone's stages) read the embedded input; task t's tower reads
f_t(x) = Σ_k g_t(x)_k · e_k(x), with g_t(x) = softmax(W_t x) (Eq. 5–6 of the paper).

It is a genotype of the routing space (K chains, every tower gated over all of them on the
input), so it is built by :class:`~sharenas.spaces.routing.RoutingSpace`.
"""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.spaces.routing import RoutingNetwork, RoutingSpaceConfig, routing_space


@register_architecture("mmoe")
def mmoe(tasks, input_spec, config) -> RoutingNetwork:  # type: ignore[no-untyped-def]
    space = routing_space(
        tasks, input_spec, config.for_experts(), RoutingSpaceConfig(experts=config.experts)
    )
    return space.build(space.mmoe())
