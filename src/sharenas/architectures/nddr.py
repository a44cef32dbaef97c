"""NDDR-CNN (Gao et al., CVPR 2019): neural discriminative dimensionality reduction layers.

One backbone per task; after every stage, task t continues with ReLU(BN(W_t [x_1; …; x_T])), a
1×1 convolution over the concatenated same-stage features of all tasks (a linear layer on
vectors), W_t starting as ``own_weight``·I on the task's own channels and
(1 − own_weight)/(T − 1)·I on each other task's (the paper's diagonal initialisation).

NDDR is the fusion space's "every same-stage edge, fixed" genotype, so it is built by
:class:`~sharenas.spaces.fusion.FusionSpace` (one code path with the fusion search).
"""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.spaces.fusion import FusionNetwork, FusionSpaceConfig, fusion_space


@register_architecture("nddr")
def nddr(tasks, input_spec, config) -> FusionNetwork:  # type: ignore[no-untyped-def]
    space = fusion_space(
        tasks,
        input_spec,
        config,
        FusionSpaceConfig(connectivity="same-resolution", depth_limit=1),
        own_weight=config.own_weight,
    )
    return space.build(space.all_same_stage())
