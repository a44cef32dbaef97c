"""A searched channel partition: the genotype of a partition search's ``arch.json`` (or one point
of its front), trained from scratch (``sharenas train --arch point.json``)."""

from __future__ import annotations

from sharenas.architectures.base import partition_space, register_architecture, space_config
from sharenas.errors import ConfigError
from sharenas.spaces.partition import PartitionGenotype, PartitionSpaceConfig
from sharenas.spaces.partition_network import PartitionNetwork


@register_architecture("partition")
def searched_partition(tasks, input_spec, config) -> PartitionNetwork:  # type: ignore[no-untyped-def]
    genotype = config.genotype
    if not genotype:
        raise ConfigError(
            "architecture 'partition' needs model.genotype: pass a partition search's "
            "arch.json with --arch."
        )
    parsed = PartitionGenotype.from_dict(genotype)
    space = partition_space(tasks, input_spec, config, space_config(PartitionSpaceConfig, genotype))
    return space.build(parsed)
