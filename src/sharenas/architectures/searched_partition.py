"""A searched channel partition: the genotype of a partition search's ``arch.json`` (or one point
of its front), trained from scratch (``sharenas train --arch point.json``)."""

from __future__ import annotations

from sharenas.architectures._registry import register_architecture
from sharenas.architectures.base import searched_genotype
from sharenas.spaces.partition import PartitionGenotype, PartitionSpaceConfig, partition_space
from sharenas.spaces.partition_network import PartitionNetwork


@register_architecture("partition")
def searched_partition(tasks, input_spec, config) -> PartitionNetwork:  # type: ignore[no-untyped-def]
    parsed, settings = searched_genotype(
        config, "partition", PartitionGenotype, PartitionSpaceConfig
    )
    return partition_space(tasks, input_spec, config, settings).build(parsed)
