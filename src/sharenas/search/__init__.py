"""Search strategies, each a training step over a space's supernet: gradient (MTL-NAS
single-shot, fusion space); reinforce and gumbel over a categorical policy (MTNAS, routing
space). The partition study's Optuna helpers live here too."""

from sharenas.search.base import SearchStep
from sharenas.search.gradient import GradientSearchConfig, GradientStep, gate_entropy
from sharenas.search.gumbel import GumbelConfig, GumbelStep
from sharenas.search.registry import create_step, strategy_names
from sharenas.search.reinforce import ReinforceConfig, ReinforceStep

__all__ = [
    "GradientSearchConfig",
    "GradientStep",
    "GumbelConfig",
    "GumbelStep",
    "ReinforceConfig",
    "ReinforceStep",
    "SearchStep",
    "create_step",
    "gate_entropy",
    "strategy_names",
]
