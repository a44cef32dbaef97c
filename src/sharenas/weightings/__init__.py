"""Loss weightings, created by name (``train.weighting``): every module of this package is
imported here, so a weighting file registers itself by being here."""

from sharenas.registration import import_members
from sharenas.weightings._registry import (
    check_options,
    create_weighting,
    register_weighting,
    weighting_class,
    weighting_names,
)
from sharenas.weightings.base import GradientWeighting, LossWeighting, head_inputs

import_members(__name__, __path__)

__all__ = [
    "GradientWeighting",
    "LossWeighting",
    "check_options",
    "create_weighting",
    "head_inputs",
    "register_weighting",
    "weighting_class",
    "weighting_names",
]
