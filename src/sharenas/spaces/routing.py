"""routing: sparse, gated sharing routes among layers of sub-networks (MTNAS, Chen, Gu & Fu,
"Boosting Share Routing for Multi-task Learning", WWW 2020 companion / arXiv 2009.00387).

The shared part is L layers (one per backbone stage) of K sub-networks; sub-network ``k`` of layer
``l`` is a fresh copy of backbone stage ``l`` (an MLP block on tables, a conv block on images).
Layer 0 reads the backbone's stem. Every later sub-network, and every task tower, reads a *route*:
a non-empty subset of the previous layer's outputs (at most ``max_fan_in`` of them), mixed by a
softmax gate whose logits are a linear function of the gate's *query*. The query is a choice too:
the embedded input (``-1``), or the input of sub-network ``j`` of the previous layer (``j``), so
that a gate can be conditioned on a task-specific representation, as in PLE.

Gates are identified by (layer, route, query): sub-networks of a layer that read the same route
with the same query read the same mixture (one gate); each task tower has its own gate. A route of
one source needs no gate. With these rules the hand-designed sharing schemes are genotypes:

- ``hard-sharing``: one chain of sub-networks 0, every tower reads it (Caruana, 1997);
- ``mmoe``: K chains (experts), every tower reads all K with its own gate on the input
  (Ma et al., KDD 2018, Eq. 5–6);
- ``ple``: per layer, ``task_experts`` sub-networks per task and the rest shared; a task's
  sub-networks read its own and the shared outputs, the shared ones read every output, gates
  conditioned on the group's previous input (Tang et al., RecSys 2020, Eq. 4–5).

The supernet holds every sub-network and, per layer and query, one gate projection onto all K
sources (masked to the route), so every route shares weights. A derived network holds only the
sub-networks and gates its towers reach, the gate rows of unused sources removed.

This module is the space (its config, its decisions, its networks built); the genotypes and
their pure helpers are in :mod:`sharenas.spaces.routing_genotype`, the networks and their
forward in :mod:`sharenas.spaces.routing_network`. Every public name of both is importable from
here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sharenas.backbones import Backbone
from sharenas.backbones._registry import build_backbone
from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype, ModelSettings, SupernetSpace
from sharenas.spaces.registry import register_space
from sharenas.spaces.routing_genotype import (
    INPUT,
    Choice,
    RelaxedChoice,
    Route,
    RoutingGenotype,
    canonical_routes,
    genotype_cost,
    needed,
    ple_genotype,
    route_masks,
    route_summary,
    routes,
    uniform_genotype,
    validate_genotype,
)
from sharenas.spaces.routing_network import (
    RouteEvaluation,
    RoutingNetwork,
    flops_per_layer,
    inherit_weights,
)
from sharenas.spaces.spec import SpaceSpec
from sharenas.tasks import TaskHandler, Tower

if TYPE_CHECKING:
    from sharenas.data.base import InputSpec

__all__ = [
    "INPUT",
    "Choice",
    "RelaxedChoice",
    "Route",
    "RouteEvaluation",
    "RoutingGenotype",
    "RoutingNetwork",
    "RoutingSpace",
    "RoutingSpaceConfig",
    "needed",
    "routes",
    "routing_space",
]


class RoutingSpaceConfig(BaseModel):
    """Config of the routing space (``search.routing``)."""

    model_config = ConfigDict(extra="forbid")

    experts: int = Field(4, ge=1, description="K: sub-networks per layer.")
    max_fan_in: int | None = Field(
        None, ge=1, description="Most sources one route may read (default: K)."
    )
    search_query: bool = Field(
        True, description="Search the gate's query; false: every gate reads the input."
    )

    @model_validator(mode="after")
    def _fan_in(self) -> RoutingSpaceConfig:
        if self.max_fan_in is not None and self.max_fan_in > self.experts:
            raise ValueError(
                f"max_fan_in={self.max_fan_in} is larger than experts={self.experts}: a route "
                "reads at most all K sub-networks of the previous layer; lower max_fan_in or "
                "raise experts"
            )
        return self


class RoutingSpace(SupernetSpace):
    """The routing space over copies of one backbone (``backbone_factory()`` returns a fresh
    one), with ``experts`` sub-networks per layer."""

    name = "routing"

    def __init__(
        self,
        tasks: list[TaskHandler],
        backbone_factory: Callable[[], Backbone],
        experts: int = 4,
        max_fan_in: int | None = None,
        search_query: bool = True,
        tower: Tower = Tower(),
    ) -> None:
        if len(tasks) < 2:
            raise ConfigError("the routing space needs at least 2 tasks.")
        if max_fan_in is not None and max_fan_in > experts:
            raise ConfigError(
                f"search.routing.max_fan_in={max_fan_in} is larger than "
                f"search.routing.experts={experts}; lower max_fan_in or raise experts."
            )
        self.tasks = tasks
        self.task_names = [t.name for t in tasks]
        self.backbone_factory = backbone_factory
        self.layers = len(backbone_factory().stages)
        self.experts = experts
        self.max_fan_in = max_fan_in or experts
        self.search_query = search_query
        self.tower = tower

    # --- the decisions ------------------------------------------------------------------------
    def _readers(self) -> list[tuple[str, int]]:
        readers = [
            (f"{level}:{k}", level) for level in range(1, self.layers) for k in range(self.experts)
        ]
        return readers + [(f"tower:{t}", self.layers) for t in self.task_names]

    def _queries(self, layer: int) -> tuple[int, ...]:
        if not self.search_query or layer < 2:
            return (INPUT,)
        return (INPUT, *range(self.experts))

    def choices(self) -> list[Choice]:
        """Every decision, in a fixed order: a route, then (when there is a choice) a query,
        per reader (sub-networks of layers 1..L−1, then the towers)."""
        result = []
        subsets = tuple(routes(self.experts, self.max_fan_in))
        for reader, layer in self._readers():
            result.append(Choice(f"{reader}:route", subsets))
            queries = self._queries(layer)
            if len(queries) > 1:
                result.append(Choice(f"{reader}:query", queries))
        return result

    def genotype_from(self, indices: Sequence[int]) -> RoutingGenotype:
        """The genotype of one option index per choice (in :meth:`choices` order)."""
        picked = {c.key: c.options[i] for c, i in zip(self.choices(), indices, strict=True)}
        layers, towers = [], []
        for reader, _ in self._readers():
            route = Route(picked[f"{reader}:route"], picked.get(f"{reader}:query", INPUT))
            if reader.startswith("tower:"):
                towers.append((reader.removeprefix("tower:"), route))
            else:
                if int(reader.split(":")[1]) == 0:
                    layers.append([])
                layers[-1].append(route)
        return RoutingGenotype(tuple(tuple(layer) for layer in layers), tuple(towers))

    def sample(self, generator: torch.Generator) -> RoutingGenotype:
        """One option per choice, each equally likely: every route set equally likely."""
        return self.genotype_from(
            [int(torch.randint(len(c.options), (1,), generator=generator)) for c in self.choices()]
        )

    def indices_of(self, genotype: RoutingGenotype) -> list[int]:
        """The inverse of :meth:`genotype_from`."""
        self.validate(genotype)
        routes_by_reader = {
            f"{level + 1}:{k}": r
            for level, layer in enumerate(genotype.layers)
            for k, r in enumerate(layer)
        }
        routes_by_reader.update({f"tower:{t}": r for t, r in genotype.towers})
        result = []
        for choice in self.choices():
            reader, kind = choice.key.rsplit(":", 1)
            route = routes_by_reader[reader]
            result.append(choice.options.index(route.sources if kind == "route" else route.query))
        return result

    def relaxation(self, weights: dict[str, torch.Tensor]) -> dict[str, RelaxedChoice]:
        """Per reader, the relaxed choice of ``weights`` (choice key -> weights over options)."""
        masks = route_masks(self.experts, self.max_fan_in)
        result = {}
        for reader, layer in self._readers():
            route_weights = weights[f"{reader}:route"]
            queries = self._queries(layer)
            query_weights = weights.get(
                f"{reader}:query", torch.ones(1, device=route_weights.device)
            )
            result[reader] = RelaxedChoice(masks, route_weights, queries, query_weights)
        return result

    def validate(self, genotype: RoutingGenotype) -> None:
        """Raise :class:`ConfigError` unless ``genotype`` is a genotype of this space."""
        validate_genotype(genotype, self.layers, self.experts, self.task_names, self.max_fan_in)

    # --- FLOPs --------------------------------------------------------------------------------
    def layer_flops(self, supernet: RoutingNetwork, example: Any) -> list[int]:
        """FLOPs per example of one sub-network of each layer (``torch.utils.flop_counter``)."""
        return flops_per_layer(supernet, example)

    def flops_estimate(self, example: Any) -> Callable[[Genotype], float]:
        """FLOPs per example ≈ the fixed part (stem, towers) + the sub-networks used; the gates,
        which vary with the fan-in and are small, are taken from the hard-sharing route."""
        from sharenas.resources import delivered_flops

        layer_flops = self.layer_flops(self.supernet(), example)
        chain = float(sum(layer_flops))
        probe = self.hard_sharing()
        fixed = delivered_flops(self.build(probe), example) - chain
        return lambda g: fixed + chain * self.relative_cost(g, layer_flops)  # type: ignore[arg-type]

    def relative_cost(self, genotype: RoutingGenotype, layer_flops: list[int]) -> float:
        """FLOPs of the sub-networks ``genotype`` uses, in units of one chain (hard sharing);
        gates and towers, common to every route and small, are left out."""
        return genotype_cost(genotype, self.layers, layer_flops)

    # --- networks -----------------------------------------------------------------------------
    def _backbones(self) -> list[Backbone]:
        return [self.backbone_factory() for _ in range(self.experts)]

    def supernet(self) -> RoutingNetwork:
        return RoutingNetwork(self.tasks, self._backbones(), None, self.tower)

    def build(self, genotype: Genotype) -> RoutingNetwork:
        assert isinstance(genotype, RoutingGenotype)
        self.validate(genotype)
        return RoutingNetwork(self.tasks, self._backbones(), genotype, self.tower)

    def inherit(self, supernet: RoutingNetwork, genotype: RoutingGenotype) -> RoutingNetwork:
        """The derived network carrying the supernet's weights: used sub-networks copied, each
        gate sliced from its layer-and-query projection to the route's sources."""
        derived = self.build(genotype)
        inherit_weights(supernet, derived, genotype)
        return derived.to(next(supernet.parameters()).device)

    # --- the hand-designed schemes --------------------------------------------------------
    def _uniform(
        self, layer_route: Callable[[int, int], Route], tower: Callable[[str], Route]
    ) -> RoutingGenotype:
        return uniform_genotype(self.layers, self.experts, self.task_names, layer_route, tower)

    def hard_sharing(self) -> RoutingGenotype:
        """One shared chain (sub-network 0 of every layer); every tower reads it."""
        return self._uniform(lambda level, k: Route((0,)), lambda t: Route((0,)))

    def cheapest(self) -> RoutingGenotype:
        """One chain: every tower reads the last layer, so every route uses at least one
        sub-network per layer."""
        return self.hard_sharing()

    def mmoe(self) -> RoutingGenotype:
        """K expert chains; each tower mixes all K with its own gate on the input."""
        every = tuple(range(self.experts))
        return self._uniform(lambda level, k: Route((k,)), lambda t: Route(every))

    def ple(self, task_experts: int = 1) -> RoutingGenotype:
        """``task_experts`` sub-networks per task and layer, the remaining K − T·task_experts
        shared (PLE / CGC)."""
        return ple_genotype(self.layers, self.experts, self.task_names, task_experts)

    def canonical(self, genotype: Genotype) -> str:
        assert isinstance(genotype, RoutingGenotype)
        return canonical_routes(genotype, self.layers)

    def baseline_points(self) -> dict[str, Genotype]:
        """Hard sharing: one chain, whatever the number of sub-networks per layer (the
        ``hard-sharing`` architecture is this space's one-chain genotype with one). MMoE and
        PLE are left out: theirs are built from ``model.experts`` and the expert backbone,
        which this space's settings need not match."""
        return {"hard-sharing": self.hard_sharing()}

    def most_probable_summary(self, genotype: RoutingGenotype) -> str:
        """A one-line description, e.g. ``L1[0+1@input 1 …] | income:0+2@in0``."""
        return route_summary(genotype)


def routing_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelSettings,
    space: RoutingSpaceConfig,
) -> RoutingSpace:
    """The routing space over copies of ``model.backbone``'s stages, with the config's towers."""

    def factory() -> Backbone:
        return build_backbone(config.backbone, input_spec, "model.backbone")

    return RoutingSpace(
        tasks,
        factory,
        space.experts,
        space.max_fan_in,
        space.search_query,
        config.tower_spec(),
    )


register_space(
    SpaceSpec(
        name="routing",
        summary="which sub-networks every layer and every task tower reads "
        "(MTNAS, Chen et al. 2020)",
        sections={"routing": RoutingSpaceConfig},
        strategies=("reinforce", "gumbel", "random"),
        # MTNAS retrains the route; the supernet's weights can be far better (planted groups:
        # +41 % Δ_MTL inherited against +5 % retrained, BENCHMARKS.md), so both are kept in
        # view and the better on validation delivered
        default_derive="best",
        baselines=("single-task", "hard-sharing", "mmoe", "ple"),
        genotype_class=RoutingGenotype,
        genotype_leaves={"layers": str, "towers": str},
        factory=routing_space,
        budget="routes over it are penalised and the most probable one within it is delivered",
    )
)
