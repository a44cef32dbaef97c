"""Search spaces: fusion (MTL-NAS cross-task fusion edges), routing (MTNAS sparse routes) and
partition (Feature Partitioning channel masks); hand-designed baselines are genotypes of them."""

from sharenas.spaces.base import Genotype, Space
from sharenas.spaces.fusion import Edge, FusionGenotype, FusionNetwork, FusionSpace
from sharenas.spaces.partition import PartitionGenotype, PartitionSpace
from sharenas.spaces.registry import create_space, space_names
from sharenas.spaces.routing import RoutingGenotype, RoutingNetwork, RoutingSpace

__all__ = [
    "Edge",
    "FusionGenotype",
    "FusionNetwork",
    "FusionSpace",
    "Genotype",
    "PartitionGenotype",
    "PartitionSpace",
    "RoutingGenotype",
    "RoutingNetwork",
    "RoutingSpace",
    "Space",
    "create_space",
    "space_names",
]
