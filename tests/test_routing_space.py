"""The routing space (MTNAS): genotypes, the hand-designed schemes as genotypes, derivation."""

import random

import pytest
import torch

from sharenas.architectures import build_architecture
from sharenas.architectures.config import ModelConfig
from sharenas.backbones import create_backbone
from sharenas.errors import ConfigError
from sharenas.resources import count_parameters, flops_per_example
from sharenas.spaces.routing import (
    INPUT,
    Route,
    RoutingGenotype,
    RoutingNetwork,
    RoutingSpace,
    RoutingSpaceConfig,
    routes,
    routing_space,
)
from tests.test_architectures import IMAGE, TABLE, handlers, table_batch

TASKS = handlers(("a", "binary", {}), ("b", "binary", {}))


def space(experts: int = 3, widths=(8, 6, 4), fan_in=None, spec=TABLE, backbone=None):
    model = ModelConfig(backbone=backbone or {"name": "mlp", "widths": list(widths)}, tower=[3])
    config = RoutingSpaceConfig(experts=experts, max_fan_in=fan_in)
    return routing_space(TASKS, spec, model, config)


def random_genotype(s, seed: int) -> RoutingGenotype:
    rng = random.Random(seed)
    return s.genotype_from([rng.randrange(len(c.options)) for c in s.choices()])


def test_routes_and_choices() -> None:
    assert routes(3, 2) == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]
    s = space(experts=3, fan_in=2)
    keys = [c.key for c in s.choices()]
    # layer 1: route only (its query can only be the input); layer 2 and towers: route + query
    assert keys[:3] == ["1:0:route", "1:1:route", "1:2:route"]
    assert keys[3:5] == ["2:0:route", "2:0:query"]
    assert keys[-2:] == ["tower:b:route", "tower:b:query"]
    assert s.choices()[4].options == (INPUT, 0, 1, 2)


def test_genotype_round_trips_through_json_and_indices() -> None:
    s = space()
    for seed in range(5):
        genotype = random_genotype(s, seed)
        assert RoutingGenotype.from_dict(genotype.to_dict()) == genotype
        assert s.genotype_from(s.indices_of(genotype)) == genotype
    assert Route.parse("0+2@in1") == Route((0, 2), 1)


def test_derived_network_equals_the_supernet_on_its_route() -> None:
    torch.manual_seed(0)
    s = space()
    supernet = s.supernet().eval()
    x = table_batch()
    for seed in range(6):
        genotype = random_genotype(s, seed)
        supernet.genotype = genotype
        derived = s.inherit(supernet, genotype).eval()
        expected, got = supernet(x), derived(x)
        for task in ("a", "b"):
            assert torch.allclose(expected[task], got[task], atol=1e-6)
        assert count_parameters(derived) <= count_parameters(supernet)


def test_unused_sub_networks_are_dropped_and_cost_less() -> None:
    s = space()
    shared, every = s.hard_sharing(), s.mmoe()
    lean, wide = s.build(shared), s.build(every)
    assert sorted(lean.blocks) == ["0:0", "1:0", "2:0"] and len(lean.gates) == 0
    assert len(wide.blocks) == 9 and sorted(wide.gates) == ["tower:a", "tower:b"]
    x = table_batch()
    assert flops_per_example(lean, x) < flops_per_example(wide, x)
    supernet = s.supernet()
    flops = s.layer_flops(supernet, x)
    assert s.relative_cost(shared, flops) == pytest.approx(1.0)
    assert s.relative_cost(every, flops) == pytest.approx(3.0)


def test_relaxed_forward_with_one_hot_weights_is_the_hard_route() -> None:
    torch.manual_seed(0)
    s = space()
    supernet = s.supernet().eval()
    genotype = random_genotype(s, 3)
    indices = s.indices_of(genotype)
    weights = {
        c.key: torch.nn.functional.one_hot(torch.tensor(i), len(c.options)).float()
        for c, i in zip(s.choices(), indices, strict=True)
    }
    x = table_batch()
    supernet.genotype = genotype
    hard = supernet(x)
    supernet.relaxation = s.relaxation(weights)
    relaxed = supernet(x)
    for task in ("a", "b"):
        assert torch.allclose(hard[task], relaxed[task], atol=1e-5)


@pytest.mark.parametrize(
    ("spec", "backbone"),
    [(TABLE, {"name": "mlp", "widths": [8, 6]}), (IMAGE, {"name": "cnn", "channels": [4, 8]})],
)
def test_engine_baselines_are_genotypes_of_the_space(spec, backbone) -> None:
    """One code path: hard-sharing, MMoE and PLE are built by the routing space, with the
    parameter counts of the papers' formulas."""
    tasks = handlers(("a", "binary", {}), ("b", "binary", {}), ("c", "binary", {}))
    model = ModelConfig(backbone=backbone, experts=4, task_experts=1, shared_experts=2)
    params = {k: v for k, v in backbone.items() if k != "name"}
    reference = create_backbone(backbone["name"], spec, **params)
    chain, stem = count_parameters(reference), count_parameters(reference.stem)
    hard = build_architecture("hard-sharing", tasks, spec, model)
    heads = count_parameters(hard.heads)
    mmoe = build_architecture("mmoe", tasks, spec, model)
    ple = build_architecture("ple", tasks, spec, model)
    assert all(isinstance(m, RoutingNetwork) and not m.supernet for m in (hard, mmoe, ple))
    stem_width = mmoe.query_width(1, INPUT)
    assert count_parameters(hard) == chain + heads
    # MMoE: 4 expert chains (one shared stem), one gate (width → 4) per task
    mmoe_gates = 3 * (stem_width * 4 + 4)
    assert count_parameters(mmoe) == 4 * (chain - stem) + stem + mmoe_gates + heads
    # PLE with 2 levels, K = 3·1 + 2: per level 3 task gates over 1 + 2 experts and one shared
    # gate over all 5 (not after the last level); towers' gates read the last level's inputs.
    widths = mmoe.input_widths
    level_gates = 3 * (widths[0] * 3 + 3) + (widths[0] * 5 + 5)
    tower_gates = 3 * (widths[1] * 3 + 3)
    assert count_parameters(ple) == 5 * (chain - stem) + stem + level_gates + tower_gates + heads


def test_mmoe_forward_is_the_papers_formula() -> None:
    """f_t(x) = Σ_k softmax(W_t x)_k e_k(x) (Ma et al., 2018, Eq. 5–6)."""
    model = ModelConfig(backbone={"name": "mlp", "widths": [8, 6]}, experts=3)
    mmoe = build_architecture("mmoe", TASKS, TABLE, model).eval()
    x = table_batch()
    embedded = mmoe.stem(x)
    experts = [mmoe.blocks[f"1:{k}"](mmoe.blocks[f"0:{k}"](embedded)) for k in range(3)]
    for task in ("a", "b"):
        gate = torch.softmax(mmoe.gates[f"tower:{task}"](embedded), -1)
        mixed = sum(gate[:, k : k + 1] * experts[k] for k in range(3))
        assert torch.allclose(mmoe(x)[task], mmoe.heads[task](mixed), atol=1e-6)


def test_ple_gates_read_the_task_representation() -> None:
    """Level-2 gates are conditioned on the task's level-1 input (Tang et al., 2020, Eq. 4–5)."""
    s = space(experts=4, widths=(8, 6, 4))
    genotype = s.ple(task_experts=1)
    assert genotype.layers[0][0] == Route((0, 2, 3), INPUT)  # task a's expert, level 1
    assert genotype.layers[1][0] == Route((0, 2, 3), 0)  # level 2: gate on a's level-1 input
    assert genotype.layers[1][2] == Route((0, 1, 2, 3), 2)  # shared: on the shared input
    assert genotype.tower("b") == Route((1, 2, 3), 1)


def test_space_errors() -> None:
    s = space()
    with pytest.raises(ConfigError, match="max_fan_in=5 is larger than"):
        RoutingSpace(TASKS, s.backbone_factory, experts=4, max_fan_in=5)
    genotype = s.hard_sharing()
    empty = RoutingGenotype(genotype.layers, (("a", Route(())), ("b", Route((0,)))))
    with pytest.raises(ConfigError, match="the tower of 'a' reads no sub-network"):
        s.build(empty)
    bad = RoutingGenotype(genotype.layers, (("a", Route((0, 7))), ("b", Route((0,)))))
    with pytest.raises(ConfigError, match="sources must be distinct and in 0..2"):
        s.build(bad)
    with pytest.raises(ConfigError, match="genotype of space 'fusion'"):
        RoutingGenotype.from_dict({"space": "fusion", "edges": []})
    with pytest.raises(ConfigError, match="belongs to another space"):
        RoutingGenotype.from_dict({"space": "routing", "edges": []})
    with pytest.raises(ConfigError, match="needs 2"):
        s.build(RoutingGenotype(genotype.layers[:1], genotype.towers))
    with pytest.raises(
        ConfigError, match="needs more than 4 sub-networks per layer; this space has 3"
    ):
        s.ple(task_experts=2)
