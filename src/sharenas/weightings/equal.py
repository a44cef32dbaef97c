"""Equal weighting: the plain sum of the task losses (LibMTL's EW)."""

from __future__ import annotations

from sharenas.weightings._registry import register_weighting
from sharenas.weightings.base import LossWeighting


@register_weighting
class EqualWeighting(LossWeighting):
    """Σ_t L_t."""

    name = "equal"
