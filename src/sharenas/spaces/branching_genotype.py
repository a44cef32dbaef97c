"""Genotypes of the branching space: a tree of task groups, one partition of the tasks per
backbone stage, each stage's groups splitting its parent stage's (Vandenhende et al., "Branched
Multi-Task Networks: Deciding What Layers to Share", BMVC 2020; Bruggemann et al., BMTAS, BMVC
2020). Tasks of one group at stage s read one copy of stage s; a group's copy reads its parent
group's output.

Pure values and helpers: no module here builds a network."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype

Group = tuple[str, ...]
Partition = tuple[Group, ...]


@dataclass(frozen=True)
class BranchingGenotype(Genotype):
    """``stages[s]``: the task groups of stage s (stage 0 holds the stem)."""

    space: ClassVar[str] = "branching"
    stages: tuple[Partition, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "tree": [[list(g) for g in p] for p in self.stages]}

    @classmethod
    def from_dict(cls, genotype: dict[str, Any]) -> BranchingGenotype:
        """The genotype of an arch.json's ``tree`` (per stage, its task groups); a clear error
        when it holds none."""
        stages = genotype.get("tree") if isinstance(genotype, dict) else None
        shape_ok = isinstance(stages, list) and all(
            isinstance(p, list) and all(
                isinstance(g, list) and all(isinstance(t, str) for t in g) for g in p
            )
            for p in stages
        )  # fmt: skip
        if not shape_ok:
            raise ConfigError(
                "the arch.json's 'tree' is not a list of stages, each a list of task groups "
                "(lists of task names); pass an arch.json written by a branching search."
            )
        tree = cls(tuple(tuple(tuple(g) for g in p) for p in stages))  # type: ignore[union-attr]
        if not tree.stages:
            raise ConfigError("the arch.json's 'tree' has no stage; pass a branching search's.")
        validate_tree(tree, sorted({t for g in tree.stages[0] for t in g}), len(tree.stages))
        return tree

    @property
    def leaves(self) -> Partition:
        """The groups of the last stage: the tasks that share the whole network."""
        return self.stages[-1]

    def group_of(self, stage: int, task: str) -> int:
        return next(i for i, group in enumerate(self.stages[stage]) if task in group)

    def parent(self, stage: int, group: int) -> int:
        """The group of stage ``stage - 1`` that group ``group`` of ``stage`` splits."""
        return self.group_of(stage - 1, self.stages[stage][group][0])

    def split_depth(self, first: str, second: str) -> int:
        """How many stages two tasks share (0: they branch at the input)."""
        return next(
            (s for s, p in enumerate(self.stages)
             if self.group_of(s, first) != self.group_of(s, second)),
            len(self.stages),
        )  # fmt: skip

    def describe(self) -> str:
        """One line, e.g. ``S0 {a b c d} | S1 {a b} {c d} | S2 {a b} {c} {d}``."""
        return " | ".join(
            f"S{s} " + " ".join("{" + " ".join(g) + "}" for g in p)
            for s, p in enumerate(self.stages)
        )


def canonical(stages: Sequence[Sequence[Sequence[str]]], tasks: Sequence[str]) -> BranchingGenotype:
    """The genotype with every group in task order and groups ordered by their first task (two
    trees that group alike compare equal)."""
    order = {t: i for i, t in enumerate(tasks)}
    result = []
    for partition in stages:
        groups = [tuple(sorted(g, key=order.__getitem__)) for g in partition]
        result.append(tuple(sorted(groups, key=lambda g: order[g[0]])))
    return BranchingGenotype(tuple(result))


def validate_tree(genotype: BranchingGenotype, tasks: Sequence[str], layers: int) -> None:
    """Raise :class:`ConfigError` unless ``genotype`` is a tree over ``tasks`` with ``layers``
    stages."""
    if len(genotype.stages) != layers:
        raise ConfigError(
            f"the branching architecture has {len(genotype.stages)} stages, the backbone "
            f"{layers}; search again with this backbone or use the backbone it was searched on."
        )
    for s, partition in enumerate(genotype.stages):
        named = [t for g in partition for t in g]
        if any(not g for g in partition) or sorted(named) != sorted(tasks):
            raise ConfigError(
                f"stage {s} of the branching architecture groups {sorted(named)}, not each of "
                f"the tasks {list(tasks)} once; pass an arch.json searched on this task set."
            )
        if s and any(len({genotype.group_of(s - 1, t) for t in g}) > 1 for g in partition):
            raise ConfigError(
                f"stage {s} of the branching architecture joins tasks that stage {s - 1} "
                "splits; a branch never joins another (each group of a stage lies in one group "
                "of the stage before)."
            )


def tree_from_labels(labels: Sequence[Sequence[int]], tasks: Sequence[str]) -> BranchingGenotype:
    """The tree whose stage s groups tasks by ``labels[s]`` (one label per task), each stage
    refined by the one before (tasks apart at a stage stay apart)."""
    stages: list[Partition] = []
    key: list[tuple[int, ...]] = [() for _ in tasks]
    for row in labels:
        key = [(*k, label) for k, label in zip(key, row, strict=True)]
        groups: dict[tuple[int, ...], list[str]] = {}
        for task, k in zip(tasks, key, strict=True):
            groups.setdefault(k, []).append(task)
        stages.append(tuple(tuple(g) for g in groups.values()))
    return canonical(stages, tasks)


def grouping_tree(groups: Sequence[Sequence[str]], tasks: Sequence[str], layers: int,
                  shared: int = 0) -> BranchingGenotype:  # fmt: skip
    """``groups`` branching after ``shared`` stages (0: at the input, task grouping as in
    Standley et al. 2020 and TAG; ``layers``: hard sharing)."""
    label = {t: i for i, g in enumerate(groups) for t in g}
    missing = [t for t in tasks if t not in label]
    listed = sum(map(len, groups))
    if missing or any(not g for g in groups) or len(label) != len(tasks) or listed != len(tasks):
        raise ConfigError(
            f"model.groups {[list(g) for g in groups]} must name each task once, in non-empty "
            "groups "
            f"(tasks: {', '.join(tasks)}); missing: {', '.join(missing) or 'none'}."
        )
    rows = [[0] * len(tasks) if s < shared else [label[t] for t in tasks] for s in range(layers)]
    return tree_from_labels(rows, tasks)


def random_tree(tasks: Sequence[str], layers: int, generator: torch.Generator) -> BranchingGenotype:
    """A random tree: at each stage every group of the stage before is split with probability
    ½ by a random label per task (which may still leave it whole), else kept whole; hard sharing,
    single-task and every grouping at every depth can be drawn, not uniformly (the space's
    random yardstick, documented as such)."""
    labels: list[list[int]] = []
    parent: list[tuple[int, ...]] = [() for _ in tasks]
    for _ in range(layers):
        split = {g: bool(torch.rand((), generator=generator) < 0.5) for g in sorted(set(parent))}
        draws = torch.randint(len(tasks), (len(tasks),), generator=generator).tolist()
        row = [draw if split[g] else 0 for g, draw in zip(parent, draws, strict=True)]
        labels.append(row)
        parent = [(*p, label) for p, label in zip(parent, row, strict=True)]
    return tree_from_labels(labels, tasks)
