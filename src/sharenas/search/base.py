"""The contract of a one-shot search strategy: a training step over a space's supernet that also
says which architecture it has found (fusion gradient search; REINFORCE and Gumbel routing)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from torch import nn

from sharenas.engine.step import TrainingStep
from sharenas.spaces.base import Genotype, Space


class SearchStep(TrainingStep):
    """A :class:`TrainingStep` that learns architecture parameters beside the weights of
    ``space``'s supernet. The trainer keeps its last state (no best-epoch weights): the
    architecture is read from the final parameters."""

    keep_best = False
    label = "search"

    def __init__(self, space: Space, settings: Any) -> None:
        self.space, self.settings = space, settings

    @property
    def supernet(self) -> nn.Module:
        return self.trainer.model

    @abstractmethod
    def derive(self) -> Genotype:
        """The architecture found so far."""

    @abstractmethod
    def arch_details(self) -> dict[str, Any]:
        """What arch.json records beside the genotype (e.g. every option's probability)."""

    @abstractmethod
    def summary(self, genotype: Genotype) -> dict[str, Any]:
        """Fields of the search's metrics.json that describe ``genotype`` (edges, route, cost)."""

    @abstractmethod
    def describe(self, record: dict[str, Any]) -> str:
        """One line for the command line about the found architecture."""
