"""Search spaces: fusion (MTL-NAS cross-task fusion edges), routing (MTNAS sparse routes) and
partition (Feature Partitioning channel masks); hand-designed baselines are genotypes of them.

Every module of this package is imported here, so a space file registers its
:class:`~sharenas.spaces.spec.SpaceSpec` by being here: a new space is one new file."""

from sharenas.registration import import_members
from sharenas.spaces.base import Genotype, Space, SupernetSpace
from sharenas.spaces.registry import (
    create_space,
    default_space,
    is_space,
    space_names,
    space_spec,
    space_specs,
)
from sharenas.spaces.spec import SearchKind, SpaceSpec

import_members(__name__, __path__)

__all__ = [
    "Genotype",
    "SearchKind",
    "Space",
    "SpaceSpec",
    "SupernetSpace",
    "create_space",
    "default_space",
    "is_space",
    "space_names",
    "space_spec",
    "space_specs",
]
