"""The contract of a one-shot search strategy: a training step over a space's supernet that also
says which architecture it has found (fusion gradient search; REINFORCE and Gumbel routing)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from torch import nn

from sharenas.engine.step import TrainingStep
from sharenas.errors import ConfigError
from sharenas.search.budget import genotype_flops
from sharenas.spaces.base import Genotype, Space


def delivered_words(record: dict[str, Any]) -> str:
    """Which weights a one-shot search's ``metrics.json`` record says were delivered, in words
    (``search.derive: both`` delivers the retrained network; ``best`` the better one kept)."""
    how = str(record.get("derive", "none"))
    if how == "best":
        kept = (record.get("retrained") or {}).get("kept", "retrained")
        other = "retrained" if kept == "inherited" else "inherited"
        return f"{kept} weights (better on validation than the {other} ones)"
    words = {"none": "inherited weights", "finetune": "fine-tuned", "retrain": "retrained"}
    return words.get(how, "retrained")  # both: retrained, the fine-tuned one recorded beside it


class SearchStep(TrainingStep):
    """A :class:`TrainingStep` that learns architecture parameters beside the weights of
    ``space``'s supernet. The trainer keeps its last state (no best-epoch weights): the
    architecture is read from the final parameters."""

    keep_best = False
    label = "search"

    def __init__(self, space: Space, settings: Any, max_flops: float | None = None) -> None:
        self.space, self.settings = space, settings
        self.max_flops = max_flops  # search.max_flops: what the delivered model may cost
        self._flops: dict[str, float] = {}

    @property
    def supernet(self) -> nn.Module:
        return self.trainer.model

    @abstractmethod
    def derive(self) -> Genotype:
        """The architecture found so far."""

    def alternatives(self) -> list[Genotype]:
        """What the search would deliver instead of :meth:`derive`'s architecture, best first,
        when that one is over ``max_flops`` (default: nothing)."""
        return []

    def flops(self, genotype: Genotype) -> float:
        """FLOPs per example of ``genotype``'s network (built once per genotype)."""
        key = genotype.to_json()
        if key not in self._flops:
            example = self.trainer.data.val.example(2)
            self._flops[key] = genotype_flops(self.space, genotype, example)
        return self._flops[key]

    def delivered(self) -> Genotype:
        """The architecture to deliver: :meth:`derive`'s, or with ``max_flops`` the first of
        it and its :meth:`alternatives` within the budget."""
        found = self.derive()
        if self.max_flops is None:
            return found
        for genotype in [found, *self.alternatives()]:
            if self.flops(genotype) <= self.max_flops:
                return genotype
        raise ConfigError(
            f"search.max_flops={self.max_flops:.4g}: no architecture the {self.space.name} "
            f"search considered fits it (the found one costs {self.flops(found):.4g} FLOPs per "
            "example); raise the budget or search another space."
        )

    def undecided(self) -> str | None:
        """Why the found network's inherited weights would not compute what the supernet
        learned (so keeping them, ``search.derive: none``, is unsound and the network is
        retrained instead), or None."""
        return None

    @abstractmethod
    def arch_details(self) -> dict[str, Any]:
        """What arch.json records beside the genotype (e.g. every option's probability)."""

    @abstractmethod
    def summary(self, genotype: Genotype) -> dict[str, Any]:
        """Fields of the search's metrics.json that describe ``genotype`` (edges, route, cost)."""

    @abstractmethod
    def describe(self, record: dict[str, Any]) -> str:
        """One line for the command line about the found architecture."""
