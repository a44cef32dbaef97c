"""Search spaces and their genotypes.

A genotype is a frozen value that round-trips through JSON; ``Space.build(genotype)`` returns a
plain ``nn.Module``. A space knows nothing of search strategies, and a strategy nothing of
datasets.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, TypeVar

import torch
from pydantic import BaseModel
from torch import nn

from sharenas.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class ModelSettings(Protocol):
    """What a space reads of the model config: the backbone, per-task backbones, the towers."""

    backbone: Any
    task_backbones: dict[str, Any]

    def tower_spec(self) -> Any:
        """The task towers' layout (widths, norm) that every head is built with."""


class Genotype(ABC):
    """A point of a search space."""

    space: ClassVar[str]

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (includes ``space``)."""

    def to_json(self) -> str:
        """The :meth:`to_dict` description as indented JSON with sorted keys (``arch.json``)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)


class Space(ABC):
    """Builds networks from genotypes."""

    name: ClassVar[str]

    @abstractmethod
    def build(self, genotype: Genotype) -> nn.Module:
        """The network of ``genotype`` (fresh weights)."""

    @abstractmethod
    def sample(self, generator: torch.Generator) -> Genotype:
        """A point drawn uniformly from the space (the random-architecture baseline: Li &
        Talwalkar 2019; Sciuto et al. 2019)."""

    def flops_estimate(self, example: Any) -> Callable[[Genotype], float] | None:
        """A cheap estimate of a point's FLOPs per example, when the space has one (random
        points within a budget are drawn with it, then checked exactly)."""
        return None

    def cheapest(self) -> Genotype | None:
        """The point with the fewest FLOPs, when the space knows it (a FLOPs budget is checked
        against it before a search starts)."""
        return None

    def canonical(self, genotype: Genotype) -> str:
        """A text that two points share when they build the same network (the genotype itself
        unless the space knows of equal networks written differently, e.g. unused or renumbered
        sub-networks): equal texts mean one network; different texts may still be one."""
        return genotype.to_json()

    def baseline_points(self) -> dict[str, Genotype]:
        """The hand-designed baselines that are points of this space, by architecture name."""
        return {}

    def baseline_of(self, genotype: Genotype) -> str | None:
        """The hand-designed baseline whose point builds ``genotype``'s network, if any."""
        form = self.canonical(genotype)
        return next(
            (name for name, p in self.baseline_points().items() if self.canonical(p) == form),
            None,
        )


class SupernetSpace(Space):
    """A space searched one-shot: its supernet holds every point, and a point's network can
    start from the supernet's weights (weight sharing: Pham et al., ICML 2018)."""

    @abstractmethod
    def supernet(self) -> nn.Module:
        """The network that holds every point of the space (fresh weights)."""

    @abstractmethod
    def inherit(self, supernet: Any, genotype: Any) -> nn.Module:
        """``genotype``'s network carrying ``supernet``'s trained weights."""

    def is_supernet(self, genotype: Any) -> bool:
        """Whether ``genotype``'s network is the supernet itself (inheriting then gives the
        trained network, and retraining would train the same network again)."""
        return False


def space_config(model: type[M], genotype: dict[str, Any]) -> M:
    """The ``space_config`` of an arch.json, validated; a clear error when it is not one."""
    from pydantic import ValidationError

    try:
        return model.model_validate(genotype.get("space_config", {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'space_config'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"the arch.json's space_config is not a valid {genotype.get('space')} space config "
            f"({problems}); pass an arch.json written by a search of that space."
        ) from None
