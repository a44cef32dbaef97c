"""Search strategies behind one contract (:mod:`sharenas.search.strategy`), created by name
(:mod:`sharenas.search.registry`): one-shot ones are a training step over a space's supernet
(gradient: MTL-NAS, fusion space; reinforce and gumbel: MTNAS, routing space); trial ones propose
whole points scored by an evaluator (random; nsga2 and es over the partition study).

Every module of this package is imported here, so a strategy file registers itself by being
here: a new strategy is one new file."""

from sharenas.registration import import_members
from sharenas.search.base import SearchStep
from sharenas.search.registry import create_strategy, strategy_class, strategy_names
from sharenas.search.strategy import OneShotStrategy, Strategy, TrialStrategy

import_members(__name__, __path__)

__all__ = [
    "OneShotStrategy",
    "SearchStep",
    "Strategy",
    "TrialStrategy",
    "create_strategy",
    "strategy_class",
    "strategy_names",
]
