"""partition: channels of one backbone partitioned among the tasks (Feature Partitioning, Newell,
Jiang, Wang, Li & Deng, arXiv 1908.04339).

At every masked stage the stage's output channels are split among N tasks by an N×N matrix P:
P_ii is the fraction of the channels task i uses, P_ij the fraction tasks i and j share. A
feasible P has P_ii in (0, 1] and P_ij in [max(0, P_ii + P_jj − 1), min(P_ii, P_jj)]; search
strategies propose raw values in [0, 1] that :func:`feasible_matrix` rescales into that range.
Binary channel masks (N × C) are solved from P deterministically for a seed
(:func:`solve_masks`). "Share all" (P = 1) and "independent" (P = I/N) are particular matrices.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype, Space

TOLERANCE = 1e-6


def feasible_range(p_ii: float, p_jj: float) -> tuple[float, float]:
    """The fractions two tasks using ``p_ii`` and ``p_jj`` of the channels can share."""
    return max(0.0, p_ii + p_jj - 1.0), min(p_ii, p_jj)


def feasible_matrix(diagonal: Sequence[float], raw_shared: Sequence[float]) -> torch.Tensor:
    """P from the diagonal (each in (0, 1]) and one raw value in [0, 1] per task pair (i < j, row
    by row), rescaled into the pair's feasible range."""
    n = len(diagonal)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(raw_shared) != len(pairs):
        raise ConfigError(f"{n} tasks need {len(pairs)} shared values, got {len(raw_shared)}.")
    p = torch.diag(torch.tensor([float(d) for d in diagonal], dtype=torch.float64))
    for (i, j), raw in zip(pairs, raw_shared, strict=True):
        lo, hi = feasible_range(float(p[i, i]), float(p[j, j]))
        p[i, j] = p[j, i] = lo + min(1.0, max(0.0, float(raw))) * (hi - lo)
    validate_matrix(p)
    return p


def validate_matrix(p: torch.Tensor, where: str = "the partition matrix P") -> None:
    """A clear error when ``p`` is not a feasible partition matrix."""
    if p.dim() != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 2:
        raise ConfigError(f"{where} must be N×N with N ≥ 2 tasks; got shape {tuple(p.shape)}.")
    n = p.shape[0]
    for i in range(n):
        if not 0.0 < float(p[i, i]) <= 1.0 + TOLERANCE:
            raise ConfigError(
                f"{where}[{i}][{i}] = {float(p[i, i]):.4g}: a task's share of the channels must "
                "be in (0, 1]."
            )
    for i in range(n):
        for j in range(i + 1, n):
            if abs(float(p[i, j]) - float(p[j, i])) > TOLERANCE:
                raise ConfigError(f"{where} must be symmetric: P[{i}][{j}] ≠ P[{j}][{i}].")
            lo, hi = feasible_range(float(p[i, i]), float(p[j, j]))
            if not lo - TOLERANCE <= float(p[i, j]) <= hi + TOLERANCE:
                raise ConfigError(
                    f"{where}[{i}][{j}] = {float(p[i, j]):.4g} is outside its feasible range "
                    f"[{lo:.4g}, {hi:.4g}] (tasks using {float(p[i, i]):.4g} and "
                    f"{float(p[j, j]):.4g} of the channels); use feasible_matrix to rescale raw "
                    "values into it."
                )


def share_all(n: int) -> torch.Tensor:
    """Every task uses every channel."""
    return torch.ones(n, n, dtype=torch.float64)


def independent(n: int) -> torch.Tensor:
    """Each task gets its own 1/N of the channels."""
    return torch.eye(n, dtype=torch.float64) / n


def solve_masks(p: torch.Tensor, channels: int, seed: int = 0) -> torch.Tensor:
    """Binary masks (N, C) whose usage and pairwise overlaps approximate ``p`` · C.

    Task i takes n_i = round(P_ii C) channels (at least 1). Tasks are placed in order; each pick
    takes the channel that most reduces the remaining overlap deficits with the tasks already
    placed (a channel of task j counts +1 while i and j still need to share more, −1 once they
    share enough), ties broken by a seeded channel order. Deterministic for ``seed``.
    """
    validate_matrix(p)
    n = p.shape[0]
    sizes = [max(1, round(float(p[i, i]) * channels)) for i in range(n)]
    target = [[round(float(p[i, j]) * channels) for j in range(n)] for i in range(n)]
    order = torch.randperm(channels, generator=torch.Generator().manual_seed(seed))
    rank = torch.empty(channels, dtype=torch.long)
    rank[order] = torch.arange(channels)
    masks = torch.zeros(n, channels, dtype=torch.bool)
    for i in range(n):
        shared = [0] * n
        for _ in range(sizes[i]):
            score = torch.zeros(channels, dtype=torch.float64)
            for j in range(i):
                sign = 1.0 if shared[j] < target[i][j] else -1.0
                score += sign * masks[j].double()
            score[masks[i]] = -float("inf")  # already taken
            best = score.max()
            candidates = torch.nonzero(score == best).flatten()
            pick = int(candidates[torch.argmin(rank[candidates])])
            masks[i, pick] = True
            for j in range(i):
                shared[j] += int(masks[j, pick])
    return masks


def realised_matrix(masks: torch.Tensor) -> torch.Tensor:
    """The P that ``masks`` realise: M Mᵀ / C."""
    m = masks.double()
    return m @ m.T / masks.shape[1]


@dataclass(frozen=True)
class PartitionGenotype(Genotype):
    """One partition matrix per masked stage (or one shared by all of them)."""

    space: ClassVar[str] = "partition"
    tasks: tuple[str, ...]
    matrices: tuple[tuple[tuple[float, ...], ...], ...]

    def __post_init__(self) -> None:
        for k, matrix in enumerate(self.matrices):
            p = torch.tensor(matrix, dtype=torch.float64)
            validate_matrix(p, f"matrices[{k}]")
            if p.shape[0] != len(self.tasks):
                raise ConfigError(
                    f"matrices[{k}] is {p.shape[0]}×{p.shape[0]}, but there are "
                    f"{len(self.tasks)} tasks ({', '.join(self.tasks)})."
                )

    @classmethod
    def of(cls, tasks: Sequence[str], matrices: Sequence[torch.Tensor]) -> PartitionGenotype:
        return cls(
            tuple(tasks),
            tuple(tuple(tuple(float(v) for v in row) for row in m.tolist()) for m in matrices),
        )

    def matrix(self, k: int) -> torch.Tensor:
        index = k if len(self.matrices) > 1 else 0
        return torch.tensor(self.matrices[index], dtype=torch.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "tasks": list(self.tasks),
            "matrices": [[list(row) for row in m] for m in self.matrices],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PartitionGenotype:
        if data.get("space") != cls.space:
            raise ConfigError(
                f"a genotype of space {data.get('space')!r} is not a partition genotype; pass "
                "a partition search's arch.json."
            )
        if not isinstance(data.get("matrices"), list) or not isinstance(data.get("tasks"), list):
            raise ConfigError(
                "a partition genotype needs 'tasks' and 'matrices' (N×N lists); this arch.json "
                "has neither, so it belongs to another space."
            )
        return cls(
            tuple(data["tasks"]),
            tuple(tuple(tuple(float(v) for v in row) for row in m) for m in data["matrices"]),
        )


class PartitionSpaceConfig(BaseModel):
    """Config of the partition space (``search.partition``)."""

    model_config = ConfigDict(extra="forbid")

    stages: list[int] | None = Field(
        None, description="Backbone stages whose channels are partitioned (default: the last)."
    )
    shared_partition: bool = Field(
        True, description="One matrix P for every masked stage; false: one P per stage."
    )
    mask_seed: int = Field(0, ge=0, description="Seed of the masks solved from P.")


class PartitionSpace(Space):
    """Channel partitions of one backbone among the tasks (``backbone_factory()`` returns a fresh
    backbone). A point is a vector in [0, 1]^D: per matrix, each task's share (mapped to
    [1/C, 1]) and one raw value per task pair (rescaled into its feasible range)."""

    name = "partition"

    def __init__(
        self,
        tasks: list[Any],
        backbone_factory: Callable[[], Any],
        config: PartitionSpaceConfig | None = None,
        tower: tuple[int, ...] = (),
    ) -> None:
        if len(tasks) < 2:
            raise ConfigError("the partition space needs at least 2 tasks.")
        self.tasks = tasks
        self.task_names = tuple(t.name for t in tasks)
        self.backbone_factory = backbone_factory
        self.config = config or PartitionSpaceConfig()
        self.tower = tuple(tower)
        reference = backbone_factory()
        count = len(reference.stages)
        stages = self.config.stages if self.config.stages is not None else [count - 1]
        resolved = sorted({s % count if -count <= s < count else s for s in stages})
        bad = [s for s in resolved if not 0 <= s < count]
        if bad or not resolved:
            raise ConfigError(
                f"search.partition.stages={stages}: the backbone has stages 0..{count - 1} "
                "(negative indices count from the end); name at least one of them."
            )
        self.stages = resolved
        self.channels = {s: reference.stage_specs[s].channels for s in resolved}
        self.matrix_count = 1 if self.config.shared_partition else len(resolved)

    @property
    def tasks_count(self) -> int:
        return len(self.task_names)

    @property
    def vector_size(self) -> int:
        n = self.tasks_count
        return self.matrix_count * (n + n * (n - 1) // 2)

    def genotype_from_vector(self, vector: Sequence[float]) -> PartitionGenotype:
        """The genotype of a point of [0, 1]^D (values outside are clipped)."""
        if len(vector) != self.vector_size:
            raise ConfigError(
                f"a partition vector needs {self.vector_size} values, got {len(vector)}."
            )
        n, values = self.tasks_count, [min(1.0, max(0.0, float(v))) for v in vector]
        per = n + n * (n - 1) // 2
        smallest = 1.0 / min(self.channels.values())
        matrices = []
        for k in range(self.matrix_count):
            chunk = values[k * per : (k + 1) * per]
            diagonal = [smallest + v * (1.0 - smallest) for v in chunk[:n]]
            matrices.append(feasible_matrix(diagonal, chunk[n:]))
        return PartitionGenotype.of(self.task_names, matrices)

    def share_all(self) -> PartitionGenotype:
        return PartitionGenotype.of(self.task_names, [share_all(self.tasks_count)])

    def independent(self) -> PartitionGenotype:
        return PartitionGenotype.of(self.task_names, [independent(self.tasks_count)])

    def validate(self, genotype: PartitionGenotype) -> None:
        if genotype.tasks != self.task_names:
            raise ConfigError(
                f"the partition genotype is for tasks {list(genotype.tasks)}, but the task set "
                f"is {list(self.task_names)}."
            )
        if len(genotype.matrices) not in (1, len(self.stages)):
            raise ConfigError(
                f"the partition genotype has {len(genotype.matrices)} matrices; this space masks "
                f"stages {self.stages}, so give 1 (shared) or {len(self.stages)}."
            )

    def masks(self, genotype: PartitionGenotype) -> dict[int, torch.Tensor]:
        self.validate(genotype)
        return {
            s: solve_masks(genotype.matrix(k), self.channels[s], self.config.mask_seed + s)
            for k, s in enumerate(self.stages)
        }

    def build(self, genotype: Genotype) -> Any:
        from sharenas.spaces.partition_network import PartitionNetwork

        assert isinstance(genotype, PartitionGenotype)
        return PartitionNetwork(
            self.tasks, self.backbone_factory(), self.masks(genotype), self.tower
        )
