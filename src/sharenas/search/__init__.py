"""Search strategies: gradient (MTL-NAS single-shot, fusion space); reinforce and gumbel over a
categorical policy (MTNAS, routing space)."""

from sharenas.search.gradient import GradientSearch, GradientSearchConfig, gate_entropy

__all__ = ["GradientSearch", "GradientSearchConfig", "gate_entropy"]
