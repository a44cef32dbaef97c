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
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from sharenas.backbones import Backbone
from sharenas.backbones._registry import build_backbone
from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype, Space
from sharenas.tasks import TaskHandler, Tower, make_head

INPUT = -1  # the query "embedded input"

if TYPE_CHECKING:
    from sharenas.data.base import InputSpec
    from sharenas.engine.config import ModelConfig


@dataclass(frozen=True, order=True)
class Route:
    """What one sub-network or tower reads: ``sources`` of the previous layer, mixed by a gate
    conditioned on ``query`` (``-1``: the embedded input; ``j``: the input of sub-network ``j`` of
    the previous layer)."""

    sources: tuple[int, ...]
    query: int = INPUT

    def key(self) -> str:
        query = "input" if self.query == INPUT else f"in{self.query}"
        return "+".join(map(str, self.sources)) + f"@{query}"

    @classmethod
    def parse(cls, text: str) -> Route:
        try:
            sources, query = text.split("@")
            q = INPUT if query == "input" else int(query.removeprefix("in"))
            return cls(tuple(int(s) for s in sources.split("+") if s != ""), q)
        except ValueError:
            raise ConfigError(
                f"route {text!r} is not of the form 'i+j+…@input' or 'i+j+…@inJ'."
            ) from None


@dataclass(frozen=True)
class RoutingGenotype(Genotype):
    """Routes of the sub-networks of layers 1..L−1 (layer 0 reads the stem) and of the towers."""

    space: ClassVar[str] = "routing"
    layers: tuple[tuple[Route, ...], ...]
    towers: tuple[tuple[str, Route], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "layers": [[r.key() for r in layer] for layer in self.layers],
            "towers": {task: r.key() for task, r in self.towers},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoutingGenotype:
        if data.get("space") != cls.space:
            raise ConfigError(
                f"the architecture holds a genotype of space {data.get('space')!r}; the "
                "routing architecture needs a routing search's arch.json (space 'routing')."
            )
        if not isinstance(data.get("layers"), list) or not isinstance(data.get("towers"), dict):
            raise ConfigError(
                "a routing genotype needs 'layers' (a list of route lists) and 'towers' "
                "(task -> route); this arch.json has neither, so it belongs to another space."
            )
        layers = tuple(tuple(Route.parse(r) for r in layer) for layer in data["layers"])
        towers = tuple((task, Route.parse(r)) for task, r in data["towers"].items())
        return cls(layers, towers)

    def tower(self, task: str) -> Route:
        return dict(self.towers)[task]


@dataclass
class RelaxedChoice:
    """A reader's relaxed decision: weights over its routes (``masks``: (R, K) booleans) and
    over its query options."""

    masks: torch.Tensor
    route_weights: torch.Tensor
    queries: tuple[int, ...]
    query_weights: torch.Tensor


@dataclass(frozen=True)
class Choice:
    """One decision of the space: ``key`` is ``l:k:route`` / ``l:k:query`` for sub-network ``k``
    of layer ``l``, or ``tower:task:route`` / ``tower:task:query``."""

    key: str
    options: tuple[Any, ...]


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


def _input_width(stage: nn.Module) -> int:
    """Features or channels a backbone stage reads (its first linear or conv layer)."""
    for module in stage.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise ConfigError("a backbone stage without a linear or conv layer cannot be routed.")


def _vector(query: torch.Tensor) -> torch.Tensor:
    return query.mean(dim=(2, 3)) if query.dim() == 4 else query


def _mix(weights: torch.Tensor, sources: list[torch.Tensor]) -> torch.Tensor:
    """Σ_i w_i x_i with per-example weights (N, S), accumulated in place of stacking the
    sources (a third of the time on small feature vectors, where a route's cost is overhead)."""
    shape = weights.shape[:1] + (1,) * (sources[0].dim() - 1)
    columns = weights.to(sources[0].dtype).unbind(1)
    total = columns[0].reshape(shape) * sources[0]
    for column, source in zip(columns[1:], sources[1:], strict=True):
        total = total.addcmul(column.reshape(shape), source)
    return total


Keyed = tuple[torch.Tensor, tuple]  # a value and the signature it is memoised under


class RouteEvaluation:
    """One genotype's forward through a :class:`RoutingNetwork`, value by value: a value is
    keyed in ``memo`` by what it is computed from (its signature), so routes evaluated on one
    ``memo`` compute what they share once. Methods, not closures, so the forward traces and
    reads as plain code."""

    def __init__(
        self,
        network: RoutingNetwork,
        stem: torch.Tensor,
        genotype: RoutingGenotype,
        memo: dict[tuple, torch.Tensor],
    ) -> None:
        self.network = network
        self.stem = stem
        self.genotype = genotype
        self.memo = memo

    def gated(self, level: int, route: Route, tower: str | None = None) -> Keyed:
        """The gated mixture a reader of ``level`` takes from its sources (MTNAS's route)."""
        sources = [self.output(level - 1, s) for s in route.sources]
        if len(sources) == 1:
            return sources[0]
        query, query_key = (
            (self.stem, ()) if route.query == INPUT else self.block_input(level - 1, route.query)
        )
        key = ("mix", level, tower, route, tuple(k for _, k in sources), query_key)
        if key not in self.memo:
            logits = self.gate_logits(level, route, query, query_key, tower)
            weights = torch.softmax(logits, dim=-1)
            self.memo[key] = _mix(weights, [value for value, _ in sources])
        return self.memo[key], key

    def gate_logits(
        self, level: int, route: Route, query: torch.Tensor, query_key: tuple, tower: str | None
    ) -> torch.Tensor:
        network = self.network
        if not network.supernet:
            return network.gates[network._derived_gate(level, route, tower)](_vector(query))
        name = network._supernet_gate(level, route.query, tower)
        key = ("gate", name, query_key)
        if key not in self.memo:  # one projection serves every route with this query
            self.memo[key] = network.gates[name](_vector(query))
        return self.memo[key][:, list(route.sources)]

    def block_input(self, level: int, k: int) -> Keyed:
        if level == 0:
            return self.stem, ()
        return self.gated(level, self.genotype.layers[level - 1][k])

    def output(self, level: int, k: int) -> Keyed:
        value, input_key = self.block_input(level, k)
        key = ("block", level, k, input_key)
        if key not in self.memo:
            self.memo[key] = self.network.blocks[f"{level}:{k}"](value)
        return self.memo[key], key


class RoutingNetwork(nn.Module):
    """The supernet (every sub-network; ``genotype`` set per batch, or ``relaxation`` for a
    differentiable mixture of routes) or a derived network (only what its towers reach)."""

    def __init__(
        self,
        tasks: list[TaskHandler],
        backbones: list[Backbone],
        genotype: RoutingGenotype | None,
        tower: Tower = Tower(),
    ) -> None:
        super().__init__()
        reference = backbones[0]
        self.task_names = [t.name for t in tasks]
        self.layers = len(reference.stages)
        self.experts = len(backbones)
        self.supernet = genotype is None
        self.genotype = genotype
        self.relaxation: dict[str, RelaxedChoice] | None = None
        self.stem = reference.stem
        widths = [_input_width(reference.stages[0])]
        widths += [spec.channels for spec in reference.stage_specs[:-1]]
        self.input_widths = widths  # what each layer's sub-networks read
        used_blocks: set[tuple[int, int]]
        if genotype is None:
            used_blocks = {(level, k) for level in range(self.layers) for k in range(self.experts)}
        else:
            used_blocks, _ = needed(genotype, self.layers)
        self.blocks = nn.ModuleDict(
            {f"{level}:{k}": backbones[k].stages[level] for level, k in sorted(used_blocks)}
        )
        gates: dict[str, nn.Module] = {}
        if genotype is None:
            for level in range(1, self.layers + 1):
                for q in [INPUT, *(range(self.experts) if level >= 2 else [])]:
                    gates[self._super_gate(level, q)] = nn.Linear(
                        self.query_width(level, q), self.experts
                    )
            for task in self.task_names:
                for q in [INPUT, *(range(self.experts) if self.layers >= 2 else [])]:
                    gates[f"tower:{task}:{q}"] = nn.Linear(
                        self.query_width(self.layers, q), self.experts
                    )
        else:
            for key, (level, route) in self._derived_gates(genotype).items():
                gates[key] = nn.Linear(self.query_width(level, route.query), len(route.sources))
        self.gates = nn.ModuleDict(gates)
        self.heads = nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec, t.out_channels(), reference.feature_shape(), reference.input_size, tower
                )
                for t in tasks
            }
        )

    # --- names of gates -------------------------------------------------------------------
    @staticmethod
    def _super_gate(layer: int, query: int) -> str:
        return f"{layer}:{query}"

    @staticmethod
    def _group_gate(layer: int, route: Route) -> str:
        return f"{layer}:{'+'.join(map(str, route.sources))}:{route.query}"

    def _derived_gates(self, genotype: RoutingGenotype) -> dict[str, tuple[int, Route]]:
        """Gate name -> (layer, route) of every gate a derived network needs."""
        _, inputs = needed(genotype, self.layers)
        gates = {}
        for level, k in sorted(inputs):
            route = genotype.layers[level - 1][k]
            if level >= 1 and len(route.sources) > 1:
                gates[self._group_gate(level, route)] = (level, route)
        for task, route in genotype.towers:
            if len(route.sources) > 1:
                gates[f"tower:{task}"] = (self.layers, route)
        return gates

    def query_width(self, layer: int, query: int) -> int:
        return self.input_widths[0] if query == INPUT else self.input_widths[layer - 1]

    # --- forward ----------------------------------------------------------------------------
    def forward(self, x: Any) -> dict[str, torch.Tensor]:
        if self.relaxation is not None:
            return self._relaxed_forward(x)
        if self.genotype is None:
            raise RuntimeError("set a genotype (or a relaxation) on the supernet before a forward")
        return self._route_forward(self.stem(x), self.genotype, {})

    def forward_routes(
        self, x: Any, genotypes: Sequence[RoutingGenotype]
    ) -> list[dict[str, torch.Tensor]]:
        """The predictions of every genotype on the same ``x``, each sub-network output that two
        routes compute alike (same block, same route below it) computed once: the scoring of
        several routes per policy step (REINFORCE) costs the union of their sub-networks."""
        stem = self.stem(x)
        memo: dict[tuple, torch.Tensor] = {}
        return [self._route_forward(stem, genotype, memo) for genotype in genotypes]

    def _route_forward(
        self, stem: torch.Tensor, genotype: RoutingGenotype, memo: dict[tuple, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Only the sub-networks ``genotype``'s towers reach (see :class:`RouteEvaluation`)."""
        route = RouteEvaluation(self, stem, genotype, memo)
        return {
            task: self.heads[task](route.gated(self.layers, tower, task)[0])
            for task, tower in genotype.towers
        }

    def _supernet_gate(self, layer: int, query: int, tower: str | None) -> str:
        """The supernet's projection of a query onto the layer's (or tower's) K sources."""
        return f"tower:{tower}:{query}" if tower else self._super_gate(layer, query)

    def _derived_gate(self, layer: int, route: Route, tower: str | None) -> str:
        return f"tower:{tower}" if tower else self._group_gate(layer, route)

    def _relaxed_forward(self, x: Any) -> dict[str, torch.Tensor]:
        """Every sub-network computed; each reader's route and query choices replaced by the
        mixture of their options weighted by ``relaxation`` (Gumbel-softmax samples)."""
        assert self.relaxation is not None and self.supernet
        stem = self.stem(x)
        block_inputs = [[stem] * self.experts]
        outputs = [[self.blocks[f"0:{k}"](stem) for k in range(self.experts)]]
        for level in range(1, self.layers + 1):
            last = level == self.layers
            readers = (
                [f"tower:{t}" for t in self.task_names]
                if last
                else [f"{level}:{k}" for k in range(self.experts)]
            )
            mixed = []
            for reader in readers:
                relaxed: RelaxedChoice = self.relaxation[reader]
                coefficient: torch.Tensor | float = 0.0
                for q, query_weight in zip(relaxed.queries, relaxed.query_weights, strict=True):
                    query = _vector(stem if q == INPUT else block_inputs[level - 1][q])
                    tower = reader.removeprefix("tower:") if last else None
                    gate = self._supernet_gate(level, q, tower)
                    logits = self.gates[gate](query).unsqueeze(1)  # (N, 1, K)
                    mask = relaxed.masks.to(logits.device)  # (R, K)
                    per_route = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
                    per_route = per_route.nan_to_num(0.0)  # (N, R, K)
                    routes_mixed = (relaxed.route_weights.reshape(1, -1, 1) * per_route).sum(1)
                    coefficient = coefficient + query_weight * routes_mixed
                mixed.append(_mix(coefficient, outputs[level - 1]))  # type: ignore[arg-type]
            if last:
                return {t: self.heads[t](m) for t, m in zip(self.task_names, mixed, strict=True)}
            block_inputs.append(mixed)
            outputs.append([self.blocks[f"{level}:{k}"](mixed[k]) for k in range(self.experts)])
        raise AssertionError("a routing network has at least one layer")

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


def routes(experts: int, max_fan_in: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of ``range(experts)`` with at most ``max_fan_in`` members."""
    return [
        subset
        for size in range(1, max_fan_in + 1)
        for subset in itertools.combinations(range(experts), size)
    ]


def needed(
    genotype: RoutingGenotype, layers: int
) -> tuple[set[tuple[int, int]], set[tuple[int, int]]]:
    """(sub-networks whose output is used, sub-networks whose gated input is used)."""
    outputs: set[tuple[int, int]] = set()
    inputs: set[tuple[int, int]] = set()

    def use_input(level: int, k: int) -> None:
        if level == 0 or (level, k) in inputs:
            return
        inputs.add((level, k))
        read(level, genotype.layers[level - 1][k])

    def use_output(level: int, k: int) -> None:
        if (level, k) in outputs:
            return
        outputs.add((level, k))
        use_input(level, k)

    def read(level: int, route: Route) -> None:
        for s in route.sources:
            use_output(level - 1, s)
        if len(route.sources) > 1 and route.query != INPUT:
            use_input(level - 1, route.query)

    for _, route in genotype.towers:
        read(layers, route)
    return outputs, inputs


class RoutingSpace(Space):
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
        subsets = routes(self.experts, self.max_fan_in)
        masks = torch.zeros(len(subsets), self.experts, dtype=torch.bool)
        for i, subset in enumerate(subsets):
            masks[i, list(subset)] = True
        result = {}
        for reader, layer in self._readers():
            route_weights = weights[f"{reader}:route"]
            queries = self._queries(layer)
            query_weights = weights.get(
                f"{reader}:query", torch.ones(1, device=route_weights.device)
            )
            result[reader] = RelaxedChoice(masks, route_weights, queries, query_weights)
        return result

    def layer_flops(self, supernet: RoutingNetwork, example: Any) -> list[int]:
        """FLOPs per example of one sub-network of each layer (``torch.utils.flop_counter``)."""
        from sharenas.resources import flops_per_example

        was_training = supernet.training
        supernet.eval()
        result = []
        with torch.no_grad():
            h = supernet.stem(example)
            for level in range(self.layers):
                block = supernet.blocks[f"{level}:0"]
                result.append(flops_per_example(block, h))
                h = block(h)
        supernet.train(was_training)
        return result

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
        used, _ = needed(genotype, self.layers)
        return sum(layer_flops[level] for level, _ in used) / max(1, sum(layer_flops))

    def validate(self, genotype: RoutingGenotype) -> None:
        where = "the routing genotype"
        if len(genotype.layers) != self.layers - 1:
            raise ConfigError(
                f"{where} lists {len(genotype.layers)} layers of routes; this space has "
                f"{self.layers} layers, so it needs {self.layers - 1} (layer 0 reads the input). "
                "Was the arch.json searched with another backbone?"
            )
        towers = dict(genotype.towers)
        if sorted(towers) != sorted(self.task_names):
            raise ConfigError(
                f"{where} has towers for {sorted(towers)}, but the task set is "
                f"{sorted(self.task_names)}."
            )
        readers = [
            (f"layer {level + 1} sub-network {k}", level + 1, r)
            for level, layer in enumerate(genotype.layers)
            for k, r in enumerate(layer)
        ]
        for level, layer in enumerate(genotype.layers):
            if len(layer) != self.experts:
                raise ConfigError(
                    f"{where}: layer {level + 1} has {len(layer)} sub-networks; this space has "
                    f"experts={self.experts}."
                )
        readers += [(f"the tower of {t!r}", self.layers, towers[t]) for t in self.task_names]
        for name, layer, route in readers:
            if not route.sources:
                raise ConfigError(
                    f"{where}: {name} reads no sub-network, so it has no input; give its route "
                    "at least one source."
                )
            bad = [s for s in route.sources if not 0 <= s < self.experts]
            if bad or len(set(route.sources)) != len(route.sources):
                raise ConfigError(
                    f"{where}: {name} reads sub-networks {list(route.sources)}; sources must be "
                    f"distinct and in 0..{self.experts - 1}."
                )
            if len(route.sources) > self.max_fan_in:
                raise ConfigError(
                    f"{where}: {name} reads {len(route.sources)} sources, more than "
                    f"max_fan_in={self.max_fan_in}."
                )
            if route.query != INPUT and not (layer >= 2 and 0 <= route.query < self.experts):
                raise ConfigError(
                    f"{where}: {name} queries the input of sub-network {route.query} of the "
                    "previous layer, which it cannot (use 'input', or a sub-network index of a "
                    "layer ≥ 1)."
                )

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
        derived.stem.load_state_dict(supernet.stem.state_dict())
        derived.heads.load_state_dict(supernet.heads.state_dict())
        for key, block in derived.blocks.items():
            block.load_state_dict(supernet.blocks[key].state_dict())
        for key, (layer, route) in derived._derived_gates(genotype).items():
            source_name = (
                f"tower:{key.split(':')[1]}:{route.query}"
                if key.startswith("tower:")
                else supernet._super_gate(layer, route.query)
            )
            source = supernet.gates[source_name]
            rows = list(route.sources)
            target = derived.gates[key]
            with torch.no_grad():
                target.weight.copy_(source.weight[rows])  # type: ignore[index]
                target.bias.copy_(source.bias[rows])  # type: ignore[index]
        return derived.to(next(supernet.parameters()).device)

    # --- the hand-designed schemes --------------------------------------------------------
    def _uniform(self, layer_route: Callable[[int, int], Route], tower: Callable[[str], Route]):  # type: ignore[no-untyped-def]
        layers = tuple(
            tuple(layer_route(level, k) for k in range(self.experts))
            for level in range(1, self.layers)
        )
        return RoutingGenotype(layers, tuple((t, tower(t)) for t in self.task_names))

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
        count = len(self.task_names)
        shared = tuple(range(count * task_experts, self.experts))
        if not shared:
            raise ConfigError(
                f"PLE with {count} tasks × {task_experts} task experts needs more than "
                f"{count * task_experts} sub-networks per layer; this space has {self.experts}."
            )
        own = {
            t: tuple(range(i * task_experts, (i + 1) * task_experts))
            for i, t in enumerate(self.task_names)
        }
        owner = {k: t for t, ks in own.items() for k in ks}

        def query(level: int, first: int) -> int:
            return INPUT if level < 2 else first

        def layer_route(level: int, k: int) -> Route:
            if k in owner:
                task = owner[k]
                return Route(own[task] + shared, query(level, own[task][0]))
            return Route(tuple(range(self.experts)), query(level, shared[0]))

        def tower(t: str) -> Route:
            return Route(own[t] + shared, query(self.layers, own[t][0]))

        return self._uniform(layer_route, tower)

    def most_probable_summary(self, genotype: RoutingGenotype) -> str:
        """A one-line description, e.g. ``L1[0+1@input 1 …] | income:0+2@in0``."""
        layers = " ".join(
            f"L{level + 1}[" + " ".join(r.key() for r in layer) + "]"
            for level, layer in enumerate(genotype.layers)
        )
        towers = " ".join(f"{t}:{r.key()}" for t, r in genotype.towers)
        return f"{layers} | {towers}".strip(" |")


def routing_space(
    tasks: list[TaskHandler],
    input_spec: InputSpec,
    config: ModelConfig,
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
