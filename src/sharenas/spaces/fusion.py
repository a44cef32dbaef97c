"""fusion: cross-task fusion edges among fixed per-task backbones (MTL-NAS, Gao et al., CVPR 2020).

Every task keeps its own backbone (backbones may differ). After stage ``i`` of task ``t`` a fusion
node concatenates the stage's output with the gated outputs of the source stages of its incoming
edges and applies 1×1 conv → BN → ReLU (a linear layer on vectors), NDDR-style. An edge runs from
stage ``j`` of task ``s`` to stage ``i`` of task ``t`` with ``s ≠ t`` and ``j ≤ i``; which edges are
candidates depends on the connectivity rule:

- ``same-resolution``: source and target stages have the same stride and ``i − j < depth_limit``
  (the official code uses 3);
- ``all-earlier``: every ``j ≤ i``, the source resized to the target's resolution (the paper's
  figure).

Sources are the stages' outputs before their own fusion, so all stage-``i`` outputs are fused at
once, as in NDDR. Each edge has one logit α; its gate is sigmoid(α), an independent Bernoulli
gate. The supernet holds every candidate edge; a derived network holds only the kept ones, with
the weight columns of pruned edges removed, so a pruned edge costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from sharenas.backbones import Backbone
from sharenas.backbones._registry import build_backbone
from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype, ModelSettings, SupernetSpace
from sharenas.spaces.registry import register_space
from sharenas.spaces.spec import SpaceSpec
from sharenas.tasks import TaskHandler, Tower, make_head

Connectivity = Literal["same-resolution", "all-earlier"]
GateMode = Literal["deterministic", "sample", "hard"]

if TYPE_CHECKING:
    from sharenas.data.base import InputSpec


@dataclass(frozen=True, order=True)
class Edge:
    """Stage ``source_stage`` of ``source`` feeds the fusion node after ``target_stage`` of
    ``target``."""

    source: str
    source_stage: int
    target: str
    target_stage: int

    def key(self) -> str:
        return f"{self.source}:{self.source_stage}->{self.target}:{self.target_stage}"

    @classmethod
    def parse(cls, key: str) -> Edge:
        try:
            source, target = key.split("->")
            s_task, s_stage = source.rsplit(":", 1)
            t_task, t_stage = target.rsplit(":", 1)
            return cls(s_task, int(s_stage), t_task, int(t_stage))
        except ValueError:
            raise ConfigError(
                f"edge {key!r} is not of the form 'task:stage->task:stage'."
            ) from None


@dataclass(frozen=True)
class FusionGenotype(Genotype):
    """The kept edges (every other candidate edge is absent)."""

    space: ClassVar[str] = "fusion"
    edges: tuple[Edge, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "edges": [e.key() for e in sorted(self.edges)]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionGenotype:
        if data.get("space") != cls.space:
            raise ConfigError(
                f"a genotype of space {data.get('space')!r} is not a fusion genotype."
            )
        if not isinstance(data.get("edges"), list):
            raise ConfigError(
                "a fusion genotype needs 'edges' (a list of 'task:stage->task:stage'); this "
                "arch.json has none, so it belongs to another space."
            )
        return cls(tuple(sorted(Edge.parse(k) for k in data["edges"])))


def candidate_edges(
    stage_strides: dict[str, list[int]], connectivity: Connectivity, depth_limit: int
) -> list[Edge]:
    """Every candidate edge of the space, in a fixed order."""
    edges = []
    for target, target_strides in stage_strides.items():
        for i, target_stride in enumerate(target_strides):
            for source, source_strides in stage_strides.items():
                if source == target:
                    continue
                for j, source_stride in enumerate(source_strides[: i + 1]):
                    if connectivity == "same-resolution" and (
                        source_stride != target_stride or i - j >= depth_limit
                    ):
                        continue
                    edges.append(Edge(source, j, target, i))
    return edges


def _resize(feature: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if feature.dim() == 2 or feature.shape[-2:] == like.shape[-2:]:
        return feature
    if feature.shape[-1] > like.shape[-1]:
        return F.adaptive_avg_pool2d(feature, like.shape[-2:])
    return F.interpolate(feature, size=like.shape[-2:], mode="bilinear", align_corners=False)


class FusionNode(nn.Module):
    """[own; g₁·x₁; …; g_k·x_k] → 1×1 conv → BN → ReLU, back to the task's own channels."""

    def __init__(
        self,
        own: int,
        sources: list[int],
        spatial: bool,
        own_weight: float = 0.9,
        init: str = "identity",
    ) -> None:
        super().__init__()
        self.own, self.sources = own, list(sources)
        inputs = own + sum(sources)
        self.reduce: nn.Module = (
            nn.Conv2d(inputs, own, 1, bias=False) if spatial else nn.Linear(inputs, own, bias=False)
        )
        self.norm: nn.Module = nn.BatchNorm2d(own) if spatial else nn.BatchNorm1d(own)
        self.relu = nn.ReLU(inplace=True)
        if init == "identity":
            with torch.no_grad():
                weight = torch.zeros(own, inputs)
                weight[:, :own] = torch.eye(own) * own_weight
                offset, share = own, (1.0 - own_weight) / max(1, len(sources))
                for channels in sources:
                    weight[:, offset : offset + channels] = torch.eye(own, channels) * share
                    offset += channels
                self.reduce.weight.copy_(weight.view_as(self.reduce.weight))  # type: ignore[union-attr]

    def forward(
        self,
        own: torch.Tensor,
        sources: list[torch.Tensor],
        gates: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if gates is not None:
            sources = [g * s for g, s in zip(gates, sources, strict=True)]
        parts = [own, *(_resize(s, own) for s in sources)]
        return self.relu(self.norm(self.reduce(torch.cat(parts, 1))))

    def keep(self, kept: list[bool]) -> FusionNode:
        """A copy without the pruned sources' weight columns."""
        spatial = isinstance(self.reduce, nn.Conv2d)
        node = FusionNode(
            self.own,
            [c for c, k in zip(self.sources, kept, strict=True) if k],
            spatial,
            init="kaiming",
        )
        columns = [torch.arange(self.own)]
        offset = self.own
        for channels, k in zip(self.sources, kept, strict=True):
            if k:
                columns.append(torch.arange(offset, offset + channels))
            offset += channels
        with torch.no_grad():
            weight = self.reduce.weight  # type: ignore[union-attr]
            node.reduce.weight.copy_(weight[:, torch.cat(columns)])  # type: ignore[union-attr]
        node.norm.load_state_dict(self.norm.state_dict())
        return node


class FusionNetwork(nn.Module):
    """Per-task backbones joined by fusion nodes; the supernet (all candidate edges, gated by
    ``alpha``) or a derived network (kept edges only, ungated)."""

    def __init__(
        self,
        tasks: list[TaskHandler],
        backbones: dict[str, Backbone],
        edges: list[Edge],
        supernet: bool,
        own_weight: float = 0.9,
        init: str = "identity",
        tower: Tower = Tower(),
    ) -> None:
        super().__init__()
        self.task_names = [t.name for t in tasks]
        self.backbones = nn.ModuleDict(backbones)
        self.edges = list(edges)
        self.supernet = supernet
        self.gate_mode: GateMode = "deterministic"
        self.temperature = 1.0
        self.alpha = nn.Parameter(torch.zeros(len(edges))) if supernet else None
        self.incoming: dict[tuple[str, int], list[int]] = {}
        for index, edge in enumerate(self.edges):
            self.incoming.setdefault((edge.target, edge.target_stage), []).append(index)
        nodes = {}
        for name, backbone in backbones.items():
            spatial = backbone.input_spec.kind == "image"
            for i, spec in enumerate(backbone.stage_specs):
                sources = [
                    self._channels(backbones, self.edges[e])
                    for e in self.incoming.get((name, i), [])
                ]
                nodes[f"{name}:{i}"] = FusionNode(spec.channels, sources, spatial, own_weight, init)
        self.nodes = nn.ModuleDict(nodes)
        self.heads = nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec,
                    t.out_channels(),
                    backbones[t.name].feature_shape(),
                    backbones[t.name].input_size,
                    tower,
                )
                for t in tasks
            }
        )

    @staticmethod
    def _channels(backbones: dict[str, Backbone], edge: Edge) -> int:
        return backbones[edge.source].stage_specs[edge.source_stage].channels

    def probabilities(self) -> torch.Tensor:
        """sigmoid(α) of every candidate edge (the supernet only)."""
        assert self.alpha is not None, "a derived network has no edge probabilities"
        return torch.sigmoid(self.alpha)

    def gates(self) -> torch.Tensor | None:
        if self.alpha is None:
            return None
        if self.gate_mode == "hard":
            return (self.alpha > 0).to(self.alpha.dtype)
        if self.gate_mode == "sample":
            relaxed = torch.distributions.RelaxedBernoulli(
                torch.tensor(self.temperature, device=self.alpha.device), logits=self.alpha
            )
            return relaxed.rsample()
        return torch.sigmoid(self.alpha)

    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        gates = self.gates()
        h = {name: self.backbones[name].stem(x) for name in self.task_names}
        raw: dict[tuple[str, int], torch.Tensor] = {}
        depth = max(len(b.stages) for b in self.backbones.values())
        for i in range(depth):
            active = [n for n in self.task_names if i < len(self.backbones[n].stages)]
            for name in active:
                raw[(name, i)] = self.backbones[name].stages[i](h[name])
            for name in active:
                incoming = self.incoming.get((name, i), [])
                sources = [
                    raw[(self.edges[e].source, self.edges[e].source_stage)] for e in incoming
                ]
                edge_gates = [gates[e] for e in incoming] if gates is not None else None
                h[name] = self.nodes[f"{name}:{i}"](raw[(name, i)], sources, edge_gates)
        return {name: self.heads[name](h[name]) for name in self.task_names}

    def architecture_parameters(self) -> list[nn.Parameter]:
        return [self.alpha] if self.alpha is not None else []

    def fusion_parameters(self) -> list[nn.Parameter]:
        return list(self.nodes.parameters())

    def network_parameters(self) -> list[nn.Parameter]:
        return [*self.backbones.parameters(), *self.heads.parameters()]


class FusionSpaceConfig(BaseModel):
    """Config of the fusion space (``search.fusion``)."""

    model_config = ConfigDict(extra="forbid")

    connectivity: Connectivity = Field(
        "same-resolution", description="same-resolution (within depth_limit) or all-earlier."
    )
    depth_limit: int = Field(
        3, ge=1, description="same-resolution: at most this many stages between source and target."
    )
    own_weight: float = Field(
        0.9,
        ge=0,
        le=1,
        description="Initial weight of a task's own features in its fusion nodes; each source "
        "gets (1 - own_weight)/k (MTL-NAS's MODEL.INIT (0.9, 0.1)). 1: fusion starts as a no-op, "
        "and a gate gets no gradient until the fusion weights move.",
    )
    init: Literal["identity", "kaiming"] = "identity"


class FusionSpace(SupernetSpace):
    """The fusion search space over per-task backbones (``backbone_factory(task)`` returns a
    fresh backbone for that task; tasks may have different backbones)."""

    name = "fusion"

    def __init__(
        self,
        tasks: list[TaskHandler],
        backbone_factory: Callable[[str], Backbone],
        connectivity: Connectivity = "same-resolution",
        depth_limit: int = 3,
        own_weight: float = 0.9,
        init: str = "identity",
        tower: Tower = Tower(),
    ) -> None:
        if len(tasks) < 2:
            raise ConfigError("the fusion space needs at least 2 tasks.")
        self.tasks = tasks
        self.backbone_factory = backbone_factory
        self.stage_specs = {t.name: backbone_factory(t.name).stage_specs for t in tasks}
        self.own_weight, self.init, self.tower = own_weight, init, tower
        strides = {name: [s.stride for s in specs] for name, specs in self.stage_specs.items()}
        self.candidates = candidate_edges(strides, connectivity, depth_limit)
        if not self.candidates:
            raise ConfigError(
                f"space.connectivity={connectivity!r} with depth_limit={depth_limit} yields no "
                f"candidate edge: no two tasks' stages share a resolution (stage strides "
                f"{strides}). Use connectivity 'all-earlier', or backbones with matching stages."
            )

    def _fresh_backbones(self) -> dict[str, Backbone]:
        return {t.name: self.backbone_factory(t.name) for t in self.tasks}

    def supernet(self) -> FusionNetwork:
        return FusionNetwork(
            self.tasks,
            self._fresh_backbones(),
            self.candidates,
            True,
            self.own_weight,
            self.init,
            self.tower,
        )

    def validate(self, genotype: FusionGenotype) -> None:
        known = set(self.candidates)
        tasks = {t.name for t in self.tasks}
        for edge in genotype.edges:
            for task, stage in ((edge.source, edge.source_stage), (edge.target, edge.target_stage)):
                if task not in tasks:
                    raise ConfigError(
                        f"edge {edge.key()!r} names task {task!r}, which is not in "
                        f"the task set ({', '.join(sorted(tasks))})."
                    )
                if not 0 <= stage < len(self.stage_specs[task]):
                    raise ConfigError(
                        f"edge {edge.key()!r} names stage {stage} of {task!r}, which "
                        f"has stages 0..{len(self.stage_specs[task]) - 1}."
                    )
            if edge not in known:
                raise ConfigError(
                    f"edge {edge.key()!r} is not a candidate edge of this space "
                    "(check space.connectivity and space.depth_limit)."
                )

    def build(self, genotype: Genotype) -> FusionNetwork:
        assert isinstance(genotype, FusionGenotype)
        self.validate(genotype)
        kept = set(genotype.edges)
        return FusionNetwork(
            self.tasks,
            self._fresh_backbones(),
            # the supernet's (candidate) order, so that inherited weight columns line up
            [e for e in self.candidates if e in kept],
            False,
            self.own_weight,
            self.init,
            self.tower,
        )

    def derive(self, supernet: FusionNetwork, threshold: float = 0.5) -> FusionGenotype:
        """Keep the edges whose probability exceeds ``threshold``."""
        keep = supernet.probabilities() > threshold
        return FusionGenotype(
            tuple(sorted(e for e, k in zip(supernet.edges, keep.tolist(), strict=True) if k))
        )

    def inherit(self, supernet: FusionNetwork, genotype: FusionGenotype) -> FusionNetwork:
        """The derived network carrying the supernet's weights (no retraining): pruned edges are
        physically removed from every fusion node."""
        derived = self.build(genotype)
        derived.backbones.load_state_dict(supernet.backbones.state_dict())
        derived.heads.load_state_dict(supernet.heads.state_dict())
        kept = set(genotype.edges)
        for key, node in supernet.nodes.items():
            task, stage = key.rsplit(":", 1)
            incoming = supernet.incoming.get((task, int(stage)), [])
            mask = [supernet.edges[e] in kept for e in incoming]
            derived.nodes[key] = node.keep(mask)  # type: ignore[operator]
        return derived

    def sample(self, generator: torch.Generator) -> FusionGenotype:
        """Each candidate edge kept with probability 1/2: every gate set equally likely."""
        keep = torch.rand(len(self.candidates), generator=generator) < 0.5
        return FusionGenotype(
            tuple(sorted(e for e, k in zip(self.candidates, keep.tolist(), strict=True) if k))
        )

    @staticmethod
    def single_task() -> FusionGenotype:
        """No edge: every task on its own."""
        return FusionGenotype(())

    def cheapest(self) -> FusionGenotype:
        return self.single_task()

    def all_same_stage(self) -> FusionGenotype:
        """Every same-stage edge (NDDR-style: all tasks' stage-i features fused at stage i)."""
        return FusionGenotype(
            tuple(sorted(e for e in self.candidates if e.source_stage == e.target_stage))
        )


def fusion_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelSettings,
    space: FusionSpaceConfig,
    own_weight: float | None = None,
) -> FusionSpace:
    """The fusion space over each task's backbone (``model.task_backbones``, else
    ``model.backbone``), with the config's towers."""
    names = {t.name for t in tasks}
    for task in config.task_backbones:
        if task not in names:
            raise ConfigError(
                f"model.task_backbones.{task}: no task {task!r} in the task set "
                f"({', '.join(sorted(names))})."
            )

    def factory(task: str) -> Backbone:
        backbone = config.task_backbones.get(task, config.backbone)
        return build_backbone(backbone, input_spec, f"model.task_backbones.{task}")

    return FusionSpace(
        tasks,
        factory,
        space.connectivity,
        space.depth_limit,
        space.own_weight if own_weight is None else own_weight,
        space.init,
        config.tower_spec(),
    )


register_space(
    SpaceSpec(
        name="fusion",
        summary="which feature-fusion edges between the tasks' networks to keep "
        "(MTL-NAS, Gao et al., CVPR 2020)",
        sections={"fusion": FusionSpaceConfig},
        strategies=("gradient", "random"),
        default_derive="none",  # MTL-NAS needs no retraining
        baselines=("single-task", "hard-sharing", "cross-stitch", "nddr"),
        genotype_class=FusionGenotype,
        genotype_leaves={"edges": str},
        factory=fusion_space,
        budget="the weakest kept edges are dropped until the network fits",
        is_default=True,
    )
)
