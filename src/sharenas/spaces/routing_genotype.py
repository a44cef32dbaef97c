"""The genotypes of the routing space (MTNAS, Chen, Gu & Fu, "Boosting Share Routing for
Multi-task Learning", WWW 2020 companion / arXiv 2009.00387): routes, their decisions, and the
pure helpers on them (which sub-networks a genotype reaches, its cost, its checks, the
hand-designed schemes as genotypes). No network here: see
:mod:`sharenas.spaces.routing_network`.

A route is what one sub-network or tower reads: a non-empty subset of the previous layer's
outputs, mixed by a softmax gate conditioned on a *query* (the embedded input, ``INPUT``, or the
input of sub-network ``j`` of the previous layer).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from sharenas.errors import ConfigError
from sharenas.spaces.base import Genotype

INPUT = -1  # the query "embedded input"


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


def routes(experts: int, max_fan_in: int) -> list[tuple[int, ...]]:
    """Every non-empty subset of ``range(experts)`` with at most ``max_fan_in`` members."""
    return [
        subset
        for size in range(1, max_fan_in + 1)
        for subset in itertools.combinations(range(experts), size)
    ]


def route_masks(experts: int, max_fan_in: int) -> torch.Tensor:
    """(R, K) booleans: row ``i`` marks the sources of the ``i``-th of :func:`routes`, the masks
    a relaxed gate applies to its K logits (MTNAS's routes as masked softmaxes)."""
    subsets = routes(experts, max_fan_in)
    masks = torch.zeros(len(subsets), experts, dtype=torch.bool)
    for i, subset in enumerate(subsets):
        masks[i, list(subset)] = True
    return masks


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


def genotype_cost(genotype: RoutingGenotype, layers: int, layer_flops: list[int]) -> float:
    """FLOPs of the sub-networks ``genotype`` uses, in units of one chain (hard sharing);
    gates and towers, common to every route and small, are left out (MTNAS's cost)."""
    used, _ = needed(genotype, layers)
    return sum(layer_flops[level] for level, _ in used) / max(1, sum(layer_flops))


def route_summary(genotype: RoutingGenotype) -> str:
    """A one-line description, e.g. ``L1[0+1@input 1 …] | income:0+2@in0``."""
    layers = " ".join(
        f"L{level + 1}[" + " ".join(r.key() for r in layer) + "]"
        for level, layer in enumerate(genotype.layers)
    )
    towers = " ".join(f"{t}:{r.key()}" for t, r in genotype.towers)
    return f"{layers} | {towers}".strip(" |")


# --- checks -------------------------------------------------------------------------------------
WHERE = "the routing genotype"


def validate_genotype(
    genotype: RoutingGenotype,
    layers: int,
    experts: int,
    task_names: Sequence[str],
    max_fan_in: int,
) -> None:
    """Raise :class:`ConfigError` unless ``genotype`` is a genotype of the routing space with
    ``layers`` layers of ``experts`` sub-networks over ``task_names`` (MTNAS)."""
    if len(genotype.layers) != layers - 1:
        raise ConfigError(
            f"{WHERE} lists {len(genotype.layers)} layers of routes; this space has "
            f"{layers} layers, so it needs {layers - 1} (layer 0 reads the input). "
            "Was the arch.json searched with another backbone?"
        )
    towers = dict(genotype.towers)
    if sorted(towers) != sorted(task_names):
        raise ConfigError(
            f"{WHERE} has towers for {sorted(towers)}, but the task set is {sorted(task_names)}."
        )
    readers = [
        (f"layer {level + 1} sub-network {k}", level + 1, r)
        for level, layer in enumerate(genotype.layers)
        for k, r in enumerate(layer)
    ]
    for level, layer in enumerate(genotype.layers):
        if len(layer) != experts:
            raise ConfigError(
                f"{WHERE}: layer {level + 1} has {len(layer)} sub-networks; this space has "
                f"experts={experts}."
            )
    readers += [(f"the tower of {t!r}", layers, towers[t]) for t in task_names]
    for name, layer, route in readers:
        _validate_route(name, layer, route, experts, max_fan_in)


def _validate_route(name: str, layer: int, route: Route, experts: int, max_fan_in: int) -> None:
    """Raise :class:`ConfigError` unless reader ``name`` of ``layer`` can read ``route``."""
    if not route.sources:
        raise ConfigError(
            f"{WHERE}: {name} reads no sub-network, so it has no input; give its route "
            "at least one source."
        )
    bad = [s for s in route.sources if not 0 <= s < experts]
    if bad or len(set(route.sources)) != len(route.sources):
        raise ConfigError(
            f"{WHERE}: {name} reads sub-networks {list(route.sources)}; sources must be "
            f"distinct and in 0..{experts - 1}."
        )
    if len(route.sources) > max_fan_in:
        raise ConfigError(
            f"{WHERE}: {name} reads {len(route.sources)} sources, more than "
            f"max_fan_in={max_fan_in}."
        )
    if route.query != INPUT and not (layer >= 2 and 0 <= route.query < experts):
        raise ConfigError(
            f"{WHERE}: {name} queries the input of sub-network {route.query} of the "
            "previous layer, which it cannot (use 'input', or a sub-network index of a "
            "layer ≥ 1)."
        )


# --- the hand-designed schemes ------------------------------------------------------------------
def uniform_genotype(
    layers: int,
    experts: int,
    task_names: Sequence[str],
    layer_route: Callable[[int, int], Route],
    tower: Callable[[str], Route],
) -> RoutingGenotype:
    """The genotype whose sub-network ``k`` of layer ``l`` reads ``layer_route(l, k)`` and whose
    tower of ``t`` reads ``tower(t)``."""
    routes_ = tuple(
        tuple(layer_route(level, k) for k in range(experts)) for level in range(1, layers)
    )
    return RoutingGenotype(routes_, tuple((t, tower(t)) for t in task_names))


def ple_genotype(
    layers: int, experts: int, task_names: Sequence[str], task_experts: int = 1
) -> RoutingGenotype:
    """PLE / CGC (Tang et al., RecSys 2020, Eq. 4–5) as a routing genotype (MTNAS):
    ``task_experts`` sub-networks per task and layer, the remaining K − T·task_experts shared."""
    count = len(task_names)
    shared = tuple(range(count * task_experts, experts))
    if not shared:
        raise ConfigError(
            f"PLE with {count} tasks × {task_experts} task experts needs more than "
            f"{count * task_experts} sub-networks per layer; this space has {experts}."
        )
    own = {
        t: tuple(range(i * task_experts, (i + 1) * task_experts)) for i, t in enumerate(task_names)
    }
    owner = {k: t for t, ks in own.items() for k in ks}

    def query(level: int, first: int) -> int:
        return INPUT if level < 2 else first

    def layer_route(level: int, k: int) -> Route:
        if k in owner:
            task = owner[k]
            return Route(own[task] + shared, query(level, own[task][0]))
        return Route(tuple(range(experts)), query(level, shared[0]))

    def tower(t: str) -> Route:
        return Route(own[t] + shared, query(layers, own[t][0]))

    return uniform_genotype(layers, experts, task_names, layer_route, tower)


def canonical_routes(genotype: RoutingGenotype, layers: int) -> str:
    """A text two genotypes share when they build the same network: only the sub-networks the
    towers reach (:func:`needed`), numbered per layer in the order the towers (in task order)
    reach them, a route's sources kept in their written order (a derived network keys its gates
    by it) and a one-source route's unused query dropped. Equal texts are one network (the
    numbering is a bijection); a network reached in another order may get another text."""
    outputs, inputs = needed(genotype, layers)
    labels: dict[tuple[int, int], int] = {}

    def label(level: int, k: int) -> int:
        counted = sum(1 for (lv, _) in labels if lv == level)
        return labels.setdefault((level, k), counted)

    def reach(level: int, route: Route) -> str:
        sources = [label(level - 1, s) for s in route.sources]
        for s in route.sources:
            if level - 1 > 0 and (level - 1, s) in inputs:
                visit(level - 1, s)
        query = "input"
        if len(route.sources) > 1 and route.query != INPUT:
            query = f"in{label(level - 1, route.query)}"
            if level - 1 > 0:
                visit(level - 1, route.query)
        return "+".join(map(str, sources)) + f"@{query}"  # in order: gates are keyed by it

    routes_of: dict[tuple[int, int], str] = {}

    def visit(level: int, k: int) -> None:
        if (level, k) in routes_of:
            return
        routes_of[(level, k)] = ""  # marks it visited before its sources are
        routes_of[(level, k)] = reach(level, genotype.layers[level - 1][k])

    towers = {task: reach(layers, route) for task, route in genotype.towers}
    used = sorted({*outputs, *inputs})
    layers_text = [
        sorted((labels[(lv, k)], routes_of.get((lv, k), "stem")) for lv, k in used if lv == level)
        for level in range(layers)
    ]
    return json.dumps({"layers": layers_text, "towers": towers}, sort_keys=True)
