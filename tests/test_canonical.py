"""One network, one name: a space's canonical form of a point (equal forms build equal networks),
the hand-designed baselines found among a space's points, and the check that a FLOPs budget
leaves only one network to search."""

from __future__ import annotations

import dataclasses

import torch

from sharenas.config import build_config
from sharenas.resources import count_parameters, flops_per_example
from sharenas.runs.folder import with_arch
from sharenas.runs.training import build_model, load_data, task_handlers
from sharenas.search.budget import genotype_flops, networks_within
from sharenas.spaces.registry import space_spec
from sharenas.spaces.routing_genotype import Route

RAW = {
    "data": {"name": "synthetic-mmoe", "train_size": 64, "val_size": 32, "test_size": 32, "dim": 8},
    "model": {"backbone": {"name": "mlp", "widths": [8, 8, 8]}},
    "search": {"routing": {"experts": 3}},
}


def _space(name: str):
    config = build_config({**RAW, "search": {**RAW["search"], "space": name}})
    data = load_data(config, None)
    spec = space_spec(name)
    space = spec.create(
        task_handlers(data), data.input_spec, config.model, spec.settings(config.searched)
    )
    return space, config, data


def test_a_chain_through_any_sub_networks_is_hard_sharing() -> None:
    space, config, data = _space("routing")
    chain = space.hard_sharing()
    through_two = dataclasses.replace(
        chain,
        layers=tuple(tuple(Route((2,)) for _ in layer) for layer in chain.layers),
        towers=tuple((t, Route((2,), query=1)) for t, _ in chain.towers),  # one source: no gate
    )
    assert space.canonical(through_two) == space.canonical(chain)
    assert space.baseline_of(through_two) == "hard-sharing"
    assert space.baseline_of(space.mmoe()) is None
    baseline, _ = build_model(with_arch(config, "hard-sharing"), data)
    built = space.build(through_two)
    example = data.val.example(2)
    assert count_parameters(built) == count_parameters(baseline)
    assert flops_per_example(built, example) == flops_per_example(baseline, example)


def test_equal_canonical_forms_build_equal_networks() -> None:
    space, _, data = _space("routing")
    generator = torch.Generator().manual_seed(0)
    example = data.val.example(2)
    groups: dict[str, list] = {}
    for _ in range(2000):
        genotype = space.sample(generator)
        groups.setdefault(space.canonical(genotype), []).append(genotype)
    repeated = [g for g in groups.values() if len(g) > 1][:15]
    assert len(repeated) >= 5 and len(groups) > 100  # one network written differently, often
    for first, second, *_ in repeated:
        sizes = [
            (count_parameters(space.build(g)), genotype_flops(space, g, example))
            for g in (first, second)
        ]
        assert sizes[0] == sizes[1]


def test_branching_extremes_are_the_baselines() -> None:
    space, _, _ = _space("branching")
    assert space.baseline_of(space.hard_sharing()) == "hard-sharing"
    assert space.baseline_of(space.single_task()) == "single-task"


def test_a_budget_that_leaves_one_network_is_seen() -> None:
    space, config, data = _space("routing")
    example = data.val.example(2)
    hard, _ = build_model(with_arch(config, "hard-sharing"), data)
    budget = float(flops_per_example(hard, example))
    generator = torch.Generator().manual_seed(0)
    assert networks_within(space, generator, budget, example) == 1
    assert networks_within(space, generator, 3 * budget, example) == 2
    # just above hard-sharing's FLOPs: one tower reading a second sub-network fits (a point one
    # decision away from the chain), although random draws rarely land there
    chain = space.hard_sharing()
    split = dataclasses.replace(chain, towers=(chain.towers[0], (chain.towers[1][0], Route((1,)))))
    above = float(genotype_flops(space, split, example))
    assert above > budget and networks_within(space, generator, above, example) == 2
    branching, _, _ = _space("branching")  # no indexed decisions: nothing is claimed
    assert networks_within(branching, generator, budget, example) == 2


def test_auto_takes_a_searched_point_that_is_a_baseline_for_that_baseline(tmp_path) -> None:
    from sharenas.runs.folder import searched_arch
    from sharenas.runs.training import train
    from sharenas.workflows.auto_scores import Candidate, _mark_equal_networks, eligible_models

    space, config, data = _space("routing")
    small = config.model_copy(update={"train": config.train.model_copy(update={"epochs": 1})})
    chain = space.hard_sharing()
    through_one = dataclasses.replace(
        chain,
        layers=tuple(tuple(Route((1,)) for _ in layer) for layer in chain.layers),
        towers=tuple((t, Route((1,))) for t, _ in chain.towers),
    )
    runs = {
        "baseline hard-sharing": with_arch(small, "hard-sharing"),
        "random routing 0": with_arch(
            small, "routing", searched_arch(small, through_one, "random")
        ),
        "random routing 1": with_arch(
            small, "routing", searched_arch(small, space.mmoe(), "random")
        ),
    }
    candidates = []
    for name, run_config in runs.items():
        folder = tmp_path / name.replace(" ", "-")
        metrics = train(run_config, folder, data=data, progress=False)
        kind = "baseline" if name.startswith("baseline") else "random"
        candidates.append(Candidate(name, kind, None, None, folder, metrics, {}))
    marked = {c.name: c.same_as for c in _mark_equal_networks(candidates, data)}
    assert marked == {
        "baseline hard-sharing": None,
        "random routing 0": "baseline hard-sharing",
        "random routing 1": None,
    }
    names = {c.name for c in eligible_models(candidates, float("inf"))}
    assert names == {"baseline hard-sharing", "random routing 1"}
