"""branching: tree-structured sharing (Vandenhende et al., "Branched Multi-Task Networks:
Deciding What Layers to Share", BMVC 2020; Bruggemann et al., "Automated Search for
Resource-Efficient Branched Multi-Task Networks" (BMTAS), BMVC 2020; Guo et al., "Learning to
Branch for Multi-Task Learning", ICML 2020).

At every backbone stage the tasks are split into groups and each group continues on its own copy
of the stage, reading its parent group's output (the stem belongs to stage 0). Hard sharing (one
group at every stage) and single-task learning (one group per task from the input) are its
extremes; task grouping (Standley et al., ICML 2020; TAG, Fifty et al., NeurIPS 2021) is "branch
at the input" (:func:`grouping_tree`, the ``task-groups`` architecture).

The supernet is the hard-sharing tree: the affinity strategy (:mod:`sharenas.search.affinity_tree`)
trains it while measuring which tasks help which at each stage, and a derived tree's branches
start from its weights. FLOPs per example are exact: one node's FLOPs per stage, counted once
with ``torch.utils.flop_counter``, times the stage's groups, plus the task heads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from sharenas.backbones import Backbone
from sharenas.backbones._registry import build_backbone
from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype, ModelSettings, SupernetSpace
from sharenas.spaces.branching_genotype import (
    BranchingGenotype,
    grouping_tree,
    random_tree,
    tree_from_labels,
    validate_tree,
)
from sharenas.spaces.registry import register_space
from sharenas.spaces.spec import SpaceSpec
from sharenas.tasks import TaskHandler, Tower, make_head

if TYPE_CHECKING:
    from sharenas.data.base import InputSpec


class BranchingSpaceConfig(BaseModel):
    """Config of the branching space (``search.branching``): the tree follows the backbone's
    stages, so the space has no settings of its own; the strategy's are in ``search.affinity``."""

    model_config = ConfigDict(extra="forbid")


class BranchingNetwork(nn.Module):
    """The network of one tree: ``nodes[s][g]`` is group g's copy of stage s (stage 0: the stem
    and the first stage), reading its parent group's output; task t's head reads its last-stage
    group. Only the branches of the active tasks run (a multi-domain batch, one task)."""

    def __init__(
        self,
        tasks: list[TaskHandler],
        backbone_factory: Callable[[], Backbone],
        genotype: BranchingGenotype,
        tower: Tower = Tower(),
    ) -> None:
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.genotype = genotype
        self.active_tasks: list[str] | None = None  # see sharenas.engine.task_subset
        reference = backbone_factory()
        self.nodes = nn.ModuleList(
            nn.ModuleList(self._node(backbone_factory(), s) for _ in partition)
            for s, partition in enumerate(genotype.stages)
        )
        self.parents = [
            [genotype.parent(s, g) if s else 0 for g in range(len(partition))]
            for s, partition in enumerate(genotype.stages)
        ]
        self.leaf = {t.name: genotype.group_of(-1, t.name) for t in tasks}  # once, not per forward
        self.heads = nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec, t.out_channels(), reference.feature_shape(), reference.input_size, tower
                )
                for t in tasks
            }
        )

    @staticmethod
    def _node(backbone: Backbone, stage: int) -> nn.Module:
        if stage == 0:
            return nn.Sequential(backbone.stem, backbone.stages[0])
        return backbone.stages[stage]

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        active = self.active_tasks or self.task_names
        outputs: dict[int, torch.Tensor] = {}
        for s, partition in enumerate(self.genotype.stages):
            wanted = [g for g, group in enumerate(partition) if any(t in active for t in group)]
            outputs = {
                g: self.nodes[s][g](x if s == 0 else outputs[self.parents[s][g]]) for g in wanted
            }
        return {t: self.heads[t](outputs[self.leaf[t]]) for t in active}


class BranchingSpace(SupernetSpace):
    """Trees of task groups over copies of one backbone's stages."""

    name = "branching"

    def __init__(
        self,
        tasks: list[TaskHandler],
        backbone_factory: Callable[[], Backbone],
        tower: Tower = Tower(),
    ) -> None:
        if len(tasks) < 2:
            raise ConfigError("the branching space needs at least 2 tasks.")
        self.tasks = tasks
        self.task_names = [t.name for t in tasks]
        self.backbone_factory = backbone_factory
        self.layers = len(backbone_factory().stages)
        self.tower = tower
        self._costs: tuple[list[int], int] | None = None

    # --- points -------------------------------------------------------------------------------
    def hard_sharing(self) -> BranchingGenotype:
        return tree_from_labels([[0] * len(self.tasks)] * self.layers, self.task_names)

    def single_task(self) -> BranchingGenotype:
        return tree_from_labels([list(range(len(self.tasks)))] * self.layers, self.task_names)

    def grouping(self, groups: list[list[str]], shared: int = 0) -> BranchingGenotype:
        """``groups`` branching after ``shared`` stages (0: task grouping at the input)."""
        return grouping_tree(groups, self.task_names, self.layers, shared)

    def cheapest(self) -> BranchingGenotype:
        return self.hard_sharing()

    def sample(self, generator: torch.Generator) -> BranchingGenotype:
        return random_tree(self.task_names, self.layers, generator)

    def validate(self, genotype: BranchingGenotype) -> None:
        validate_tree(genotype, self.task_names, self.layers)

    # --- FLOPs --------------------------------------------------------------------------------
    def costs(self, example: Any) -> tuple[list[int], int]:
        """FLOPs per example of one node of each stage and of the task heads, counted once on
        the hard-sharing tree (``torch.utils.flop_counter``)."""
        if self._costs is None:
            from sharenas.resources import flops_per_example

            network = self.build(self.hard_sharing()).eval()
            nodes, h = [], example
            with torch.no_grad():
                for stage in network.nodes:
                    nodes.append(flops_per_example(stage[0], h))
                    h = stage[0](h)
            self._costs = nodes, flops_per_example(network, example) - sum(nodes)
        return self._costs

    def tree_flops(self, genotype: BranchingGenotype, example: Any) -> float:
        """FLOPs per example of ``genotype``'s network: Σ_s groups(s) · node(s) + heads."""
        nodes, heads = self.costs(example)
        return float(heads + sum(len(p) * c for p, c in zip(genotype.stages, nodes, strict=True)))

    def flops_estimate(self, example: Any) -> Callable[[Genotype], float]:
        return lambda genotype: self.tree_flops(genotype, example)  # type: ignore[arg-type]

    # --- networks -----------------------------------------------------------------------------
    def build(self, genotype: Genotype) -> BranchingNetwork:
        assert isinstance(genotype, BranchingGenotype)
        self.validate(genotype)
        return BranchingNetwork(self.tasks, self.backbone_factory, genotype, self.tower)

    def supernet(self) -> BranchingNetwork:
        """The hard-sharing tree: what the affinity strategy trains and measures."""
        return self.build(self.hard_sharing())

    def is_supernet(self, genotype: BranchingGenotype) -> bool:
        """The hard-sharing tree (one group of every task at every stage) is the supernet."""
        return all(len(partition) == 1 for partition in genotype.stages)

    def baseline_points(self) -> dict[str, Genotype]:
        return {"hard-sharing": self.hard_sharing(), "single-task": self.single_task()}

    def inherit(self, supernet: BranchingNetwork, genotype: BranchingGenotype) -> BranchingNetwork:
        """``genotype``'s tree with every branch starting from the shared stage it copies (as
        branches are initialised from the trunk in Branched MTL and BMTAS)."""
        derived = self.build(genotype)
        derived.heads.load_state_dict(supernet.heads.state_dict())
        for stage, shared in zip(derived.nodes, supernet.nodes, strict=True):
            for node in stage:
                node.load_state_dict(shared[0].state_dict())
        return derived.to(next(supernet.parameters()).device)


def branching_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelSettings,
    space: BranchingSpaceConfig,
) -> BranchingSpace:
    """The branching space over copies of ``model.backbone``'s stages, with the config's towers."""

    def factory() -> Backbone:
        return build_backbone(config.backbone, input_spec, "model.backbone")

    return BranchingSpace(tasks, factory, config.tower_spec())


register_space(
    SpaceSpec(
        name="branching",
        summary="where the network branches into task groups, stage by stage (Branched MTL, "
        "Vandenhende et al. 2020; BMTAS, Bruggemann et al. 2020; task affinity from TAG, "
        "Fifty et al. 2021)",
        sections={"branching": BranchingSpaceConfig},
        strategies=("affinity", "random"),
        default_derive="retrain",
        baselines=("single-task", "hard-sharing", "mmoe", "ple"),
        genotype_class=BranchingGenotype,
        genotype_leaves={"tree": str},
        factory=branching_space,
        budget="the affinity tree shares more stages (a larger price on FLOPs) until it fits",
    )
)
