"""The affinity strategy of the branching space: one hard-sharing training that measures, at
every stage, how much each task's gradient step helps each other task (TAG's lookahead, Fifty et
al. 2021, split by stage to first order), then the tree those affinities ask for within the FLOPs
budget (:func:`sharenas.affinity.tree.affinity_tree`, after Branched MTL and BMTAS), retrained.

Cost: the measuring training (≈ 1.2–1.3 hard-sharing trainings, BENCHMARKS.md) before the final
training of the tree; no candidate is trained.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sharenas.affinity.lookahead import AffinityStep
from sharenas.affinity.tree import affinity_tree
from sharenas.search.base import SearchStep
from sharenas.search.registry import register_strategy
from sharenas.search.strategy import OneShotStrategy
from sharenas.spaces.base import Space
from sharenas.spaces.branching_genotype import BranchingGenotype, tree_from_labels


class AffinityTreeConfig(BaseModel):
    """Settings of ``search.strategy: affinity`` (``search.affinity``)."""

    model_config = ConfigDict(extra="forbid")

    every: int | None = Field(
        None,
        ge=1,
        description="Training steps between affinity measurements (default: 7.5 per task, "
        "about 30 % over one training).",
    )


def stage_index(name: str) -> int:
    """The stage of a branching network's parameter group name (``nodes.2`` → 2)."""
    return int(name.split(".")[1])


class AffinityTreeStep(SearchStep, AffinityStep):
    """Hard-sharing training of the branching supernet that measures per-stage affinity; the
    architecture is the affinity tree within the budget."""

    label = "search (affinity)"
    keep_best = True  # a hard-sharing training: its best validation epoch, as a baseline's

    def __init__(self, space: Space, settings: Any, max_flops: float | None = None) -> None:
        SearchStep.__init__(self, space, settings, max_flops)
        AffinityStep.__init__(self, settings.every if settings else None)
        self.price = 0.0

    def stage_affinities(self, key: str = "stage_lookahead") -> list[np.ndarray]:
        """The first-order lookahead affinity of every stage (or its standard errors,
        ``stage_lookahead_se``), in stage order."""
        stages = self.matrices()[key]
        return [np.asarray(stages[name]) for name in sorted(stages, key=stage_index)]

    def derive(self) -> BranchingGenotype:
        self.synchronise()
        example = self.trainer.data.val.example(2)
        nodes, heads = self.space.costs(example)  # type: ignore[attr-defined]
        labels, self.price = affinity_tree(
            self.stage_affinities(),
            nodes,
            heads,
            self.max_flops,
            self.stage_affinities("stage_lookahead_se"),
        )
        return tree_from_labels(labels, self.tasks)

    def arch_details(self) -> dict[str, Any]:
        return {"affinity": self.matrices(), "price_per_flop": self.price}

    def summary(self, genotype: BranchingGenotype) -> dict[str, Any]:  # type: ignore[override]
        return {
            "tree": genotype.describe(),
            "groups_per_stage": [len(p) for p in genotype.stages],
            "leaf_groups": [list(g) for g in genotype.leaves],
            "affinity_measurements": self.measured,
            "affinity_seconds": round(self.measure_seconds, 3),
        }

    def describe(self, record: dict[str, Any]) -> str:
        return f"tree {record['tree']} ({self.measured} affinity measurements)"


@register_strategy
class AffinityTreeStrategy(OneShotStrategy):
    """Per-stage task affinity measured in one training, clustered into a tree."""

    name = "affinity"
    summary = (
        "per-stage task affinity measured during one hard-sharing training, clustered into the "
        "tree it asks for within the budget, retrained"
    )
    settings_key, settings_class = "affinity", AffinityTreeConfig
    step_class = AffinityTreeStep
