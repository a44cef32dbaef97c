"""The networks of the routing space (MTNAS, Chen, Gu & Fu, "Boosting Share Routing for
Multi-task Learning", WWW 2020 companion / arXiv 2009.00387).

A :class:`RoutingNetwork` is either the supernet or a derived network. The supernet holds every
sub-network and, per layer and query, one gate projection onto all K sources (masked to the
route), so every route shares weights; it runs in one of two modes, set by its search step:
along one route (:meth:`RoutingNetwork.use_route`: REINFORCE's weight steps and scoring) or as
the mixture of every route weighted by a relaxation (:meth:`RoutingNetwork.use_relaxation`:
Gumbel-softmax). A derived network holds only the sub-networks and gates its towers reach, the
gate rows of unused sources removed, and runs along its own route.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from sharenas.backbones import Backbone
from sharenas.errors import ConfigError
from sharenas.spaces.routing_genotype import INPUT, RelaxedChoice, Route, RoutingGenotype, needed
from sharenas.tasks import TaskHandler, Tower, make_head


def _input_width(stage: nn.Module) -> int:
    """Features or channels a backbone stage reads (its first linear or conv layer)."""
    for module in stage.modules():
        if isinstance(module, nn.Linear):
            return module.in_features
        if isinstance(module, nn.Conv2d):
            return module.in_channels
    raise ConfigError("a backbone stage without a linear or conv layer cannot be routed.")


def _vector(query: torch.Tensor) -> torch.Tensor:
    """A gate's query as a vector per example (feature maps averaged over space)."""
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
    """The supernet (every sub-network; a route set per batch with :meth:`use_route`, or a
    differentiable mixture of routes with :meth:`use_relaxation`) or a derived network (only
    what its towers reach), as in MTNAS (Chen, Gu & Fu, 2020)."""

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
        gates = self._supernet_gates() if genotype is None else self._route_gates(genotype)
        self.gates = nn.ModuleDict(gates)
        self.heads = nn.ModuleDict(
            {
                t.name: make_head(
                    t.spec, t.out_channels(), reference.feature_shape(), reference.input_size, tower
                )
                for t in tasks
            }
        )

    # --- modes ------------------------------------------------------------------------------
    def use_route(self, genotype: RoutingGenotype) -> None:
        """Forward along ``genotype`` alone (MTNAS's sampled route: a REINFORCE weight step, the
        route an epoch ends with); any relaxation is dropped."""
        self.genotype, self.relaxation = genotype, None

    def use_relaxation(self, relaxation: dict[str, RelaxedChoice]) -> None:
        """Forward every sub-network, each reader's choices mixed by ``relaxation`` (reader ->
        relaxed choice, Gumbel-softmax samples); the route set by :meth:`use_route` is kept but
        not read until the next :meth:`use_route`."""
        self.relaxation = relaxation

    # --- gates ------------------------------------------------------------------------------
    def _supernet_gates(self) -> dict[str, nn.Module]:
        """Per layer (and per tower) and query, one projection onto all K sources."""
        gates: dict[str, nn.Module] = {}
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
        return gates

    def _route_gates(self, genotype: RoutingGenotype) -> dict[str, nn.Module]:
        """Per gate ``genotype`` reaches, a projection onto its route's sources."""
        return {
            key: nn.Linear(self.query_width(level, route.query), len(route.sources))
            for key, (level, route) in self._derived_gates(genotype).items()
        }

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

    def _supernet_gate(self, layer: int, query: int, tower: str | None) -> str:
        """The supernet's projection of a query onto the layer's (or tower's) K sources."""
        return f"tower:{tower}:{query}" if tower else self._super_gate(layer, query)

    def _derived_gate(self, layer: int, route: Route, tower: str | None) -> str:
        return f"tower:{tower}" if tower else self._group_gate(layer, route)

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
                tower = reader.removeprefix("tower:") if last else None
                weights = self._relaxed_weights(reader, level, tower, stem, block_inputs)
                mixed.append(_mix(weights, outputs[level - 1]))  # type: ignore[arg-type]
            if last:
                return {t: self.heads[t](m) for t, m in zip(self.task_names, mixed, strict=True)}
            block_inputs.append(mixed)
            outputs.append([self.blocks[f"{level}:{k}"](mixed[k]) for k in range(self.experts)])
        raise AssertionError("a routing network has at least one layer")

    def _relaxed_weights(
        self,
        reader: str,
        level: int,
        tower: str | None,
        stem: torch.Tensor,
        block_inputs: list[list[torch.Tensor]],
    ) -> torch.Tensor | float:
        """(N, K) weights of ``reader`` over the previous layer's outputs: per query option, the
        gate's masked softmax per route, mixed by the route weights, mixed by the query
        weights."""
        assert self.relaxation is not None
        relaxed: RelaxedChoice = self.relaxation[reader]
        coefficient: torch.Tensor | float = 0.0
        for q, query_weight in zip(relaxed.queries, relaxed.query_weights, strict=True):
            query = _vector(stem if q == INPUT else block_inputs[level - 1][q])
            gate = self._supernet_gate(level, q, tower)
            logits = self.gates[gate](query).unsqueeze(1)  # (N, 1, K)
            mask = relaxed.masks.to(logits.device)  # (R, K)
            per_route = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
            per_route = per_route.nan_to_num(0.0)  # (N, R, K)
            routes_mixed = (relaxed.route_weights.reshape(1, -1, 1) * per_route).sum(1)
            coefficient = coefficient + query_weight * routes_mixed
        return coefficient

    def network_parameters(self) -> list[nn.Parameter]:
        return list(self.parameters())


def flops_per_layer(supernet: RoutingNetwork, example: Any) -> list[int]:
    """FLOPs per example of one sub-network of each layer of ``supernet``
    (``torch.utils.flop_counter``): MTNAS's cost unit, one hard-sharing chain, is their sum."""
    from sharenas.resources import flops_per_example

    was_training = supernet.training
    supernet.eval()
    result = []
    with torch.no_grad():
        h = supernet.stem(example)
        for level in range(supernet.layers):
            block = supernet.blocks[f"{level}:0"]
            result.append(flops_per_example(block, h))
            h = block(h)
    supernet.train(was_training)
    return result


def inherit_weights(
    supernet: RoutingNetwork, derived: RoutingNetwork, genotype: RoutingGenotype
) -> None:
    """Copy ``supernet``'s weights into ``derived`` (``genotype``'s network): used sub-networks
    copied, each gate sliced from its layer-and-query projection to the route's sources."""
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
