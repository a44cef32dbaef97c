"""partition: channels of one backbone partitioned among the tasks (Feature Partitioning, Newell,
Jiang, Wang, Li & Deng, arXiv 1908.04339).

At every masked stage the stage's output channels are split among N tasks by an N×N matrix P:
P_ii is the fraction of the channels task i uses, P_ij the fraction tasks i and j share. A
feasible P has P_ii in (0, 1] and P_ij in [max(0, P_ii + P_jj − 1), min(P_ii, P_jj)]; search
strategies propose raw values in [0, 1] that :func:`feasible_matrix` rescales into that range.
Binary channel masks (N × C) are solved from P deterministically for a seed
(:func:`solve_masks`). "Share all" (P = 1) and "independent" (P = I/N) are particular matrices.

Optional gradient masks (the paper's backward masks): a second N×N matrix G per P, in the same
units. G_ii is the fraction of the channels through which task i's loss trains the masked
layers, a subset of the channels it reads (G_ii ≤ P_ii); G_ij is the fraction both tasks train.
A task still reads all its channels and its gradient still reaches the layers below through
them; only the parameters producing the channels outside its gradient mask are not updated by
it. G = P (the default when no G is given) trains every channel a task reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field

from sharenas.backbones import Backbone
from sharenas.backbones._registry import build_backbone
from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype, ModelSettings, Space
from sharenas.spaces.partition_config import PartitionEvalConfig, StudyConfig
from sharenas.spaces.partition_resources import check_chain_backbone
from sharenas.spaces.registry import register_space
from sharenas.spaces.spec import SearchKind, SpaceSpec
from sharenas.tasks.heads import Tower

TOLERANCE = 1e-6

if TYPE_CHECKING:
    from sharenas.data.base import InputSpec
    from sharenas.tasks import TaskHandler


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


def gradient_range(
    p: torch.Tensor, i: int, j: int, g_ii: float, g_jj: float
) -> tuple[float, float]:
    """The fractions two tasks training ``g_ii`` and ``g_jj`` of the channels can both train,
    when their gradient masks lie inside their forward masks (shares and overlap in ``p``)."""
    union = float(p[i, i]) + float(p[j, j]) - float(p[i, j])
    return max(0.0, g_ii + g_jj - union), min(float(p[i, j]), g_ii, g_jj)


def feasible_gradient_matrix(
    p: torch.Tensor, fractions: Sequence[float], raw_shared: Sequence[float]
) -> torch.Tensor:
    """G from each task's fraction of its own channels that it trains (each in (0, 1]) and one
    raw value in [0, 1] per task pair (i < j, row by row), rescaled into the pair's range."""
    n = p.shape[0]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(fractions) != n or len(raw_shared) != len(pairs):
        raise ConfigError(
            f"{n} tasks need {n} gradient fractions and {len(pairs)} shared values, got "
            f"{len(fractions)} and {len(raw_shared)}."
        )
    g = torch.diag(torch.tensor([float(f) for f in fractions], dtype=torch.float64) * p.diagonal())
    for (i, j), raw in zip(pairs, raw_shared, strict=True):
        lo, hi = gradient_range(p, i, j, float(g[i, i]), float(g[j, j]))
        g[i, j] = g[j, i] = lo + min(1.0, max(0.0, float(raw))) * (hi - lo)
    validate_gradient_matrix(g, p)
    return g


def validate_gradient_matrix(
    g: torch.Tensor, p: torch.Tensor, where: str = "the gradient matrix G"
) -> None:
    """A clear error when ``g`` is not a feasible gradient matrix for the partition ``p``."""
    if tuple(g.shape) != tuple(p.shape):
        raise ConfigError(
            f"{where} has shape {tuple(g.shape)}; it must match its partition matrix "
            f"{tuple(p.shape)}."
        )
    n = p.shape[0]
    for i in range(n):
        if not 0.0 < float(g[i, i]) <= float(p[i, i]) + TOLERANCE:
            raise ConfigError(
                f"{where}[{i}][{i}] = {float(g[i, i]):.4g}: a task trains a part of the channels "
                f"it reads, so it must be in (0, P[{i}][{i}] = {float(p[i, i]):.4g}]."
            )
    for i in range(n):
        for j in range(i + 1, n):
            if abs(float(g[i, j]) - float(g[j, i])) > TOLERANCE:
                raise ConfigError(f"{where} must be symmetric: G[{i}][{j}] ≠ G[{j}][{i}].")
            lo, hi = gradient_range(p, i, j, float(g[i, i]), float(g[j, j]))
            if not lo - TOLERANCE <= float(g[i, j]) <= hi + TOLERANCE:
                raise ConfigError(
                    f"{where}[{i}][{j}] = {float(g[i, j]):.4g} is outside its feasible range "
                    f"[{lo:.4g}, {hi:.4g}] given the partition matrix; use "
                    "feasible_gradient_matrix to rescale raw values into it."
                )


def share_all(n: int) -> torch.Tensor:
    """Every task uses every channel."""
    return torch.ones(n, n, dtype=torch.float64)


def independent(n: int) -> torch.Tensor:
    """Each task gets its own 1/N of the channels."""
    return torch.eye(n, dtype=torch.float64) / n


def solve_masks(
    p: torch.Tensor, channels: int, seed: int = 0, within: torch.Tensor | None = None
) -> torch.Tensor:
    """Binary masks (N, C) whose usage and pairwise overlaps approximate ``p`` · C.

    Task i takes n_i = round(P_ii C) channels (at least 1). Tasks are placed in order; each pick
    takes the channel that most reduces the remaining overlap deficits with the tasks already
    placed (a channel of task j counts +1 while i and j still need to share more, −1 once they
    share enough), ties broken by a seeded channel order. Deterministic for ``seed``. With
    ``within`` (N, C), task i picks only among ``within[i]`` (gradient masks inside forward
    masks; ``p`` is then a gradient matrix, validated by the caller).
    """
    n = p.shape[0]
    if within is None:
        validate_matrix(p)
    sizes = [max(1, round(float(p[i, i]) * channels)) for i in range(n)]
    if within is not None:
        sizes = [min(size, int(within[i].sum())) for i, size in enumerate(sizes)]
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
            if within is not None:
                score[~within[i]] = -float("inf")  # outside the task's forward mask
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


def _matrix_tuple(m: Any) -> tuple[tuple[float, ...], ...]:
    rows = m.tolist() if isinstance(m, torch.Tensor) else m
    return tuple(tuple(float(v) for v in row) for row in rows)


@dataclass(frozen=True)
class PartitionGenotype(Genotype):
    """One partition matrix per masked stage (or one shared by all of them), and optionally a
    gradient matrix for each (none: every task trains every channel it reads)."""

    space: ClassVar[str] = "partition"
    tasks: tuple[str, ...]
    matrices: tuple[tuple[tuple[float, ...], ...], ...]
    gradients: tuple[tuple[tuple[float, ...], ...], ...] = ()

    def __post_init__(self) -> None:
        for k, matrix in enumerate(self.matrices):
            p = torch.tensor(matrix, dtype=torch.float64)
            validate_matrix(p, f"matrices[{k}]")
            if p.shape[0] != len(self.tasks):
                raise ConfigError(
                    f"matrices[{k}] is {p.shape[0]}×{p.shape[0]}, but there are "
                    f"{len(self.tasks)} tasks ({', '.join(self.tasks)})."
                )
        if self.gradients and len(self.gradients) != len(self.matrices):
            raise ConfigError(
                f"the genotype has {len(self.gradients)} gradient matrices for "
                f"{len(self.matrices)} partition matrices; give one per partition matrix or none."
            )
        for k, gradient in enumerate(self.gradients):
            validate_gradient_matrix(
                torch.tensor(gradient, dtype=torch.float64), self.matrix(k), f"gradients[{k}]"
            )

    @classmethod
    def of(
        cls,
        tasks: Sequence[str],
        matrices: Sequence[torch.Tensor],
        gradients: Sequence[torch.Tensor] = (),
    ) -> PartitionGenotype:
        return cls(
            tuple(tasks),
            tuple(_matrix_tuple(m) for m in matrices),
            tuple(_matrix_tuple(g) for g in gradients),
        )

    def matrix(self, k: int) -> torch.Tensor:
        index = k if len(self.matrices) > 1 else 0
        return torch.tensor(self.matrices[index], dtype=torch.float64)

    def gradient_matrix(self, k: int) -> torch.Tensor | None:
        """G of masked stage ``k``, or None when the genotype has no gradient masks."""
        if not self.gradients:
            return None
        index = k if len(self.gradients) > 1 else 0
        return torch.tensor(self.gradients[index], dtype=torch.float64)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "space": self.space,
            "tasks": list(self.tasks),
            "matrices": [[list(row) for row in m] for m in self.matrices],
        }
        if self.gradients:
            data["gradients"] = [[list(row) for row in g] for g in self.gradients]
        return data

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
        if not isinstance(data.get("gradients", []), list):
            raise ConfigError("'gradients' of a partition genotype must be a list of N×N lists.")
        return cls(
            tuple(data["tasks"]),
            tuple(_matrix_tuple(m) for m in data["matrices"]),
            tuple(_matrix_tuple(g) for g in data.get("gradients", [])),
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
    gradient_masks: bool = Field(
        False,
        description="Also search a gradient matrix G per P: the part of its channels through "
        "which each task's loss trains the masked layers (false: all of them).",
    )


class PartitionSpace(Space):
    """Channel partitions of one backbone among the tasks (``backbone_factory()`` returns a fresh
    backbone). A point is a vector in [0, 1]^D: per matrix, each task's share (mapped to
    [1/C, 1]) and one raw value per task pair (rescaled into its feasible range); with gradient
    masks, then per matrix each task's trained fraction of its channels (mapped to [one channel,
    all]) and one raw value per task pair."""

    name = "partition"

    def __init__(
        self,
        tasks: list[Any],
        backbone_factory: Callable[[], Any],
        config: PartitionSpaceConfig | None = None,
        tower: Tower = Tower(),
    ) -> None:
        if len(tasks) < 2:
            raise ConfigError("the partition space needs at least 2 tasks.")
        self.tasks = tasks
        self.task_names = tuple(t.name for t in tasks)
        self.backbone_factory = backbone_factory
        self.config = config or PartitionSpaceConfig()
        self.tower = tower
        reference = backbone_factory()
        check_chain_backbone(reference)
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
    def _per_matrix(self) -> int:
        n = self.tasks_count
        return n + n * (n - 1) // 2

    @property
    def vector_size(self) -> int:
        blocks = 2 if self.config.gradient_masks else 1
        return blocks * self.matrix_count * self._per_matrix

    def sample(self, generator: torch.Generator) -> PartitionGenotype:
        """A point drawn uniformly from [0, 1]^D (the partition study's random sampler draws the
        same way)."""
        vector = torch.rand(self.vector_size, generator=generator, dtype=torch.float64)
        return self.genotype_from_vector(vector.tolist())

    def genotype_from_vector(self, vector: Sequence[float]) -> PartitionGenotype:
        """The genotype of a point of [0, 1]^D (values outside are clipped)."""
        if len(vector) != self.vector_size:
            raise ConfigError(
                f"a partition vector needs {self.vector_size} values, got {len(vector)}."
            )
        n, values = self.tasks_count, [min(1.0, max(0.0, float(v))) for v in vector]
        per, channels = self._per_matrix, min(self.channels.values())
        smallest = 1.0 / channels
        matrices, gradients = [], []
        for k in range(self.matrix_count):
            chunk = values[k * per : (k + 1) * per]
            diagonal = [smallest + v * (1.0 - smallest) for v in chunk[:n]]
            matrices.append(feasible_matrix(diagonal, chunk[n:]))
        if self.config.gradient_masks:
            offset = self.matrix_count * per
            for k, p in enumerate(matrices):
                chunk = values[offset + k * per : offset + (k + 1) * per]
                # at least one channel: a fraction 1 / (channels the task reads)
                least = [min(1.0, 1.0 / max(1.0, float(p[i, i]) * channels)) for i in range(n)]
                fractions = [lo + v * (1.0 - lo) for lo, v in zip(least, chunk[:n], strict=True)]
                gradients.append(feasible_gradient_matrix(p, fractions, chunk[n:]))
        return PartitionGenotype.of(self.task_names, matrices, gradients)

    def reference_vectors(
        self, groupings: Sequence[Sequence[Sequence[str]]] = (), share_all: bool = True
    ) -> dict[str, list[float]]:
        """Vectors of share-all (every task every channel; left out with ``share_all=False``),
        independent (1/N each, disjoint) and each of ``groupings`` (:meth:`grouping_vector`),
        each task training all the channels it reads; labelled by their groups."""
        n = self.tasks_count
        found = {"share-all": self.grouping_vector([list(self.task_names)])} if share_all else {}
        found["independent"] = self.grouping_vector([[t] for t in self.task_names])
        for groups in groupings:
            vector = self.grouping_vector(groups)
            if len(groups) not in (1, n):  # the corners already have their names
                found.setdefault(" | ".join(" ".join(g) for g in groups), vector)
        return found

    def grouping_vector(self, groups: Sequence[Sequence[str]]) -> list[float]:
        """The point where each group of tasks shares a private part of the channels, in
        proportion to its size (k of N tasks: k/N of them), every task training all it reads:
        one group is share-all, N groups are independent (the partition counterpart of a tree's
        groups, Vandenhende et al. 2020)."""
        self._check_groups(groups)
        n, per = self.tasks_count, self._per_matrix
        smallest = 1.0 / min(self.channels.values())
        of = {t: i for i, g in enumerate(groups) for t in g}
        share = [len(groups[of[t]]) / n for t in self.task_names]
        diagonal = [max(0.0, (s - smallest) / (1.0 - smallest)) if s < 1 else 1.0 for s in share]
        pairs = [
            1.0 if of[a] == of[b] else 0.0
            for i, a in enumerate(self.task_names)
            for b in self.task_names[i + 1 :]
        ]
        vector = (diagonal + pairs) * self.matrix_count
        if self.config.gradient_masks:  # G = P: all of its channels, all overlaps
            vector += [1.0] * per * self.matrix_count
        return vector

    def _check_groups(self, groups: Sequence[Sequence[str]]) -> None:
        named = [t for g in groups for t in g]
        if sorted(named) != sorted(self.task_names) or not all(groups):
            raise ConfigError(
                f"search.study.groupings: {[list(g) for g in groups]} must name every task "
                f"({', '.join(self.task_names)}) exactly once, in non-empty groups."
            )

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
        """Forward masks (N, C) per masked stage."""
        self.validate(genotype)
        return {
            s: solve_masks(genotype.matrix(k), self.channels[s], self.config.mask_seed + s)
            for k, s in enumerate(self.stages)
        }

    def gradient_masks(
        self, genotype: PartitionGenotype, forward: dict[int, torch.Tensor] | None = None
    ) -> dict[int, torch.Tensor]:
        """Gradient masks (N, C) per masked stage, each inside its forward mask; empty when the
        genotype has no gradient matrices."""
        if not genotype.gradients:
            return {}
        forward = forward if forward is not None else self.masks(genotype)
        masks = {}
        for k, s in enumerate(self.stages):
            gradient = genotype.gradient_matrix(k)
            assert gradient is not None
            masks[s] = solve_masks(
                gradient, self.channels[s], self.config.mask_seed + s, within=forward[s]
            )
        return masks

    def build(self, genotype: Genotype) -> Any:
        from sharenas.spaces.partition_network import PartitionNetwork

        assert isinstance(genotype, PartitionGenotype)
        forward = self.masks(genotype)
        return PartitionNetwork(
            self.tasks,
            self.backbone_factory(),
            forward,
            self.tower,
            gradient_masks=self.gradient_masks(genotype, forward),
        )


def partition_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelSettings,
    space: PartitionSpaceConfig,
) -> PartitionSpace:
    """The partition space over ``model.backbone``'s channels, with the config's towers."""

    def factory() -> Backbone:
        return build_backbone(config.backbone, input_spec, "model.backbone")

    return PartitionSpace(tasks, factory, space, config.tower_spec())


register_space(
    SpaceSpec(
        name="partition",
        summary="how the backbone's channels are split between the tasks "
        "(Feature Partitioning, Newell et al., 2019)",
        sections={
            "partition": PartitionSpaceConfig,
            "evaluation": PartitionEvalConfig,
            "study": StudyConfig,
        },
        strategies=("nsga2", "random", "es"),
        default_derive="none",
        baselines=(),  # share-all, independent and single-task are points of the study
        genotype_class=PartitionGenotype,
        genotype_leaves={"tasks": str, "matrices": float, "gradients": float},
        factory=partition_space,
        searched_by=SearchKind.STUDY,
        budget="partitions over it are pruned before evaluation; the chosen front point fits",
        smoke={  # a handful of partitions, each scored in seconds
            "study.trials": 4,
            "study.population": 2,
            "study.es_directions": 1,
            "evaluation.distill_steps": 5,
        },
    )
)
