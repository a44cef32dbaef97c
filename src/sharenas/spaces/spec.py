"""What a search space says about itself, so that config, runs, workflows, the CLI and reports
ask the space instead of comparing its name: its config sections, strategies, default
derivation, baselines, genotype keys, the task-set shapes it reads, how the FLOPs budget
applies, and a paragraph for reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel

from sharenas.spaces.base import Genotype, Space


class SearchKind(Enum):
    """How a space is searched."""

    SUPERNET = "supernet"  # one-shot strategies train its supernet; random points from scratch
    STUDY = "study"  # trial strategies propose points that an evaluator scores, in a study


@dataclass(frozen=True)
class SpaceSpec:
    """A space's self-description (see :func:`~sharenas.spaces.registry.register_space`)."""

    name: str
    summary: str  # what is searched, with its paper: the opening of a report
    sections: dict[str, type[BaseModel]]  # search.<key> sections; the first is the space's own
    strategies: tuple[str, ...]  # strategies that search it; the first is the default
    default_derive: str  # after a search: none, finetune, retrain or best
    baselines: tuple[str, ...]  # hand-designed architectures compared with the search
    genotype_class: type[Genotype]  # from_dict(arch.json) -> genotype
    genotype_leaves: dict[str, type]  # a genotype's structural keys and their leaf type
    factory: Callable[..., Space]  # (tasks, input spec, model config, space settings)
    searched_by: SearchKind = SearchKind.SUPERNET
    budget: str = ""  # how search.max_flops applies to it
    shapes: tuple[str, ...] = ("multi-output", "multi-domain")  # task-set shapes it reads
    smoke: dict[str, int] = field(default_factory=dict)  # --smoke caps: "section.key" -> value
    is_default: bool = False  # searched when a config names no space

    @property
    def settings_key(self) -> str:
        """The space's own section (``search.<key>``)."""
        return next(iter(self.sections))

    def settings(self, search: Any) -> BaseModel:
        """The space's own settings out of a ``search`` config section."""
        return getattr(search, self.settings_key)  # type: ignore[no-any-return]

    def create(self, tasks: Any, input_spec: Any, model: Any, settings: Any) -> Space:
        """The space over ``model``'s backbone for ``tasks``."""
        return self.factory(tasks, input_spec, model, settings)
