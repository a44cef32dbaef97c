"""One contract for every search strategy (as NNI's ``Strategy`` and Optuna's ``BaseSampler``):
a strategy is created by name from :mod:`sharenas.search.registry` and is one of two families.

- :class:`OneShotStrategy`: a training step over a space's supernet that learns architecture
  parameters beside the weights (MTL-NAS gradient; MTNAS REINFORCE and Gumbel-softmax). The
  trainer runs it; the strategy only says which step.
- :class:`TrialStrategy`: proposes points that an evaluator handed in scores, one trial at a
  time (random search; NSGA-II and evolution strategies over a partition study). Over a space
  searched by a study, it gives the study's sampler (and, for ES, its own proposals); over a
  supernet space, it draws the points trained from scratch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

if TYPE_CHECKING:
    import torch

    from sharenas.search.base import SearchStep
    from sharenas.spaces.base import Genotype, Space


class Strategy(ABC):
    """A search strategy: its name, its settings section and a line for reports."""

    name: ClassVar[str]
    summary: ClassVar[str]  # what the strategy does, for a report's opening paragraph
    settings_key: ClassVar[str | None] = None  # its section of the config: search.<key>
    settings_class: ClassVar[type[BaseModel] | None] = None


class OneShotStrategy(Strategy):
    """A strategy that searches while the supernet trains (one trainer, one loop)."""

    step_class: ClassVar[type[SearchStep]]

    def create_step(self, space: Space, settings: Any, max_flops: float | None) -> SearchStep:
        """The training step over ``space``'s supernet; ``max_flops``: what the delivered
        architecture may cost (``search.max_flops``)."""
        return self.step_class(space, settings, max_flops)


class TrialStrategy(Strategy):
    """A strategy that proposes whole points, each scored by an evaluator."""

    proposes_own: ClassVar[bool] = False  # True: only its own (queued) proposals are evaluated

    @abstractmethod
    def sampler(self, seed: int, settings: Any) -> Any:
        """The Optuna sampler of a study searched by this strategy (``settings``: the study's
        section, ``search.study``)."""

    def proposer(self, study: Any, size: int, settings: Any, directions: list[str],
                 scale: float, seed: int) -> Any:  # fmt: skip
        """An object whose ``propose()`` queues the strategy's own points in ``study`` (None:
        the sampler proposes)."""
        return None

    def draw(
        self,
        space: Space,
        generator: torch.Generator,
        max_flops: float | None,
        example: Any,
        count: int,
    ) -> list[Genotype]:
        """``count`` points of a supernet space to train from scratch (uniform, within the
        budget)."""
        from sharenas.search.budget import sample_within

        return sample_within(space, generator, max_flops, example, count)
