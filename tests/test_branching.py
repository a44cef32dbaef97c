"""The branching space (tree-structured sharing): its genotypes, its extremes, exact FLOPs,
branches inherited from the trunk, the affinity tree, the search (planted groups found, a killed
search resumed to the uninterrupted answer, both shapes of task set) and task-groups by name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from sharenas.affinity.tree import affinity_tree, split_depths, stage_labels, tree_flops
from sharenas.architectures import build_architecture
from sharenas.architectures.config import ModelConfig
from sharenas.config import build_config
from sharenas.errors import ConfigError
from sharenas.resources import count_parameters, flops_per_example
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.search.affinity_tree import AffinityTreeStep
from sharenas.spaces.branching import BranchingSpace, BranchingSpaceConfig, branching_space
from sharenas.spaces.branching_genotype import BranchingGenotype, canonical, tree_from_labels
from tests.test_architectures import IMAGE, TABLE, handlers, table_batch

TASKS = handlers(("a", "binary", {}), ("b", "regression", {}), ("c", "binary", {}))
NAMES = ["a", "b", "c"]


def space(spec=TABLE, backbone=None) -> BranchingSpace:
    model = ModelConfig(backbone=backbone or {"name": "mlp", "widths": [8, 6, 4]}, tower=[3])
    return branching_space(TASKS, spec, model, BranchingSpaceConfig())


def test_genotypes_round_trip_and_are_canonical() -> None:
    s = space()
    generator = torch.Generator().manual_seed(0)
    drawn = {s.sample(generator) for _ in range(60)}
    assert len(drawn) > 10
    for genotype in drawn:
        s.validate(genotype)
        assert BranchingGenotype.from_dict(json.loads(genotype.to_json())) == genotype
    assert canonical([[["c", "a"], ["b"]]], NAMES) == canonical([[["b"], ["a", "c"]]], NAMES)
    assert s.hard_sharing() in drawn and s.single_task() in drawn


@pytest.mark.parametrize(
    "stages, message",
    [
        ([[["a", "b", "c"]]] * 2, "has 2 stages"),
        ([[["a", "b"]]] * 3, "not each of the tasks"),
        ([[["a"], ["b", "c"]], [["a", "b"], ["c"]], [["a"], ["b"], ["c"]]], "never joins"),
    ],
)
def test_a_genotype_that_is_not_a_tree_is_refused(stages, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        space().build(BranchingGenotype.from_dict({"tree": stages}))
    with pytest.raises(ConfigError, match="list of stages"):
        BranchingGenotype.from_dict({"tree": [["a"]]})
    with pytest.raises(ConfigError, match="not each of the tasks"):  # a hand-edited arch.json
        BranchingGenotype.from_dict({"tree": [[["a", "b"]], [["c"], ["a", "b"]]]})
    with pytest.raises(ConfigError, match="no stage"):
        BranchingGenotype.from_dict({"tree": []})


@pytest.mark.parametrize("arch", ["hard-sharing", "single-task"])
def test_the_extremes_are_points_of_the_space(arch: str) -> None:
    """Hard sharing and single-task are trees with the baselines' parameters and FLOPs."""
    s = space()
    tree = s.hard_sharing() if arch == "hard-sharing" else s.single_task()
    model = ModelConfig(backbone={"name": "mlp", "widths": [8, 6, 4]}, tower=[3])
    baseline = build_architecture(arch, TASKS, TABLE, model)
    built, x = s.build(tree), table_batch()
    assert count_parameters(built) == count_parameters(baseline)
    assert flops_per_example(built, x) == flops_per_example(baseline, x)
    assert s.tree_flops(tree, x) == flops_per_example(built, x)


@pytest.mark.parametrize(
    "spec, backbone", [(TABLE, None), (IMAGE, {"name": "cnn", "channels": [4, 6]})]
)
def test_counted_flops_equal_the_flop_counter_on_the_built_module(spec, backbone) -> None:
    s = space(spec, backbone)
    x = table_batch() if spec is TABLE else torch.rand(2, *IMAGE_SHAPE)
    generator = torch.Generator().manual_seed(1)
    for _ in range(8):
        tree = s.sample(generator)
        assert s.tree_flops(tree, x) == flops_per_example(s.build(tree), x)


IMAGE_SHAPE = (IMAGE.channels, IMAGE.height, IMAGE.width)


def test_branches_inherit_the_trunk_and_only_active_tasks_run() -> None:
    torch.manual_seed(0)
    s = space()
    supernet, x = s.supernet().eval(), table_batch()
    tree = tree_from_labels([[0, 0, 0], [0, 0, 1], [0, 1, 2]], NAMES)
    derived = s.inherit(supernet, tree).eval()
    expected, got = supernet(x), derived(x)
    assert all(torch.allclose(expected[t], got[t], atol=1e-6) for t in NAMES)
    derived.active_tasks = ["c"]
    assert list(derived(x)) == ["c"]


def blocks(values: list[float], size_a: int = 2) -> np.ndarray:
    """Affinity +values[0] inside {a, b}, values[1] between them and c."""
    inside, across = values
    m = np.full((3, 3), across)
    m[:size_a, :size_a] = inside
    np.fill_diagonal(m, 1.0)
    return m


def test_the_affinity_tree_shares_where_affinity_is_positive_and_fits_a_budget() -> None:
    costs, heads = [100.0, 100.0, 100.0], 10.0
    helpful_early = [blocks([0.5, 0.3]), blocks([0.5, -0.1]), blocks([0.5, -0.4])]
    labels, price = affinity_tree(helpful_early, costs, heads)
    assert price == 0.0
    assert labels == [[0, 0, 0], [0, 0, 2], [0, 0, 2]]  # c leaves after one shared stage
    conflicting = [blocks([0.5, -0.3])] * 3
    assert affinity_tree(conflicting, costs, heads)[0] == [[0, 0, 2]] * 3  # grouping at the input
    budget = tree_flops([[0, 0, 0], [0, 0, 0], [0, 0, 2]], costs, heads)
    fitted, price = affinity_tree(conflicting, costs, heads, budget)
    assert price > 0 and tree_flops(fitted, costs, heads) <= budget
    hard, _ = affinity_tree(conflicting, costs, heads, tree_flops([[0, 0, 0]] * 3, costs, heads))
    assert hard == [[0, 0, 0]] * 3
    neutral_late = [blocks([0.5, 0.2]), blocks([0.5, -0.01]), blocks([0.5, -0.01])]
    assert affinity_tree(neutral_late, costs)[0][1:] == [[0, 0, 2]] * 2  # no errors: it hurts
    noise = [np.full((3, 3), 0.05)] * 3  # within noise: stays shared, branching would cost
    assert affinity_tree(neutral_late, costs, errors=noise)[0] == [[0, 0, 0]] * 3
    depths = split_depths(conflicting, costs, 0.0)
    assert depths[0, 1] == 3 and depths[0, 2] == 0 and stage_labels(depths)[0] == [0, 0, 2]


PLANTED = {
    "data": {
        "name": "synthetic-groups",
        "groups": [3, 2],
        "p_out": -0.5,
        "dim": 12,
        "train_size": 1000,
        "val_size": 300,
        "test_size": 300,
        "sin_terms": 0,
    },
    "model": {"backbone": {"name": "mlp", "widths": [32, 32]}},
    "train": {"epochs": 10, "batch_size": 64, "threads": 1},
    "search": {"space": "branching", "derive": "none", "baselines": [], "affinity": {"every": 4}},
}


def test_the_search_finds_planted_groups(tmp_path: Path) -> None:
    record, line = run_oneshot_search(build_config(PLANTED), tmp_path / "s", progress=False)
    assert record["leaf_groups"] == [["g0t0", "g0t1", "g0t2"], ["g1t0", "g1t1"]]
    assert line.startswith("tree ") and record["affinity_measurements"] > 0
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert arch["space"] == "branching" and set(arch["affinity"]) >= {"lookahead", "stages"}


def test_a_killed_search_resumes_to_the_uninterrupted_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = build_config({**PLANTED, "train": {**PLANTED["train"], "epochs": 3}})
    config = config.model_copy(
        update={
            "search": config.searched.model_copy(
                update={"affinity": config.searched.affinity.model_copy(update={"every": 7})}
            )
        }
    )
    whole, _ = run_oneshot_search(config, tmp_path / "whole", progress=False)
    original = AffinityTreeStep.step

    def killed(self, batch, info):  # type: ignore[no-untyped-def]
        if info.epoch == 1 and info.step == 10:
            raise KeyboardInterrupt
        return original(self, batch, info)

    monkeypatch.setattr(AffinityTreeStep, "step", killed)
    with pytest.raises(KeyboardInterrupt):
        run_oneshot_search(config, tmp_path / "cut", progress=False)
    monkeypatch.setattr(AffinityTreeStep, "step", original)
    resumed, _ = run_oneshot_search(config, tmp_path / "cut", resume=True, progress=False)
    assert resumed["tree"] == whole["tree"] and resumed["primary"] == whole["primary"]
    arches = [json.loads((tmp_path / d / "arch.json").read_text()) for d in ("whole", "cut")]
    assert arches[0]["affinity"] == arches[1]["affinity"]


def test_a_multi_domain_set_is_measured_with_each_domains_batches(tmp_path: Path) -> None:
    from tests.test_multi_domain import domains_task_set

    config = build_config(
        {
            "data": {"name": "synthetic-mmoe"},
            "model": {"backbone": {"name": "cnn", "channels": [4, 4]}},
            "train": {"epochs": 2, "batch_size": 8, "threads": 1},
            "search": {"space": "branching", "affinity": {"every": 2}, "derive": "none",
                       "baselines": []},
        }
    )  # fmt: skip
    record, _ = run_oneshot_search(config, tmp_path / "s", data=domains_task_set(), progress=False)
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert record["affinity_measurements"] > 0
    assert all(arch["affinity"]["lookahead"][i][i] != 0 for i in range(2))


def test_task_groups_trains_by_name_and_needs_its_groups(tmp_path: Path) -> None:
    model = ModelConfig(backbone={"name": "mlp", "widths": [8, 6]}, groups=[["a", "c"], ["b"]])
    network = build_architecture("task-groups", TASKS, TABLE, model)
    assert [len(p) for p in network.genotype.stages] == [2, 2]
    with pytest.raises(ConfigError, match="needs model.groups"):
        build_architecture("task-groups", TASKS, TABLE, ModelConfig())
    with pytest.raises(ConfigError, match="name each task once"):
        build_architecture("task-groups", TASKS, TABLE, ModelConfig(groups=[["a"], ["b"]]))


def test_a_flops_budget_is_honoured(tmp_path: Path) -> None:
    """Between hard sharing and the planted tree's FLOPs the delivered tree fits the budget;
    below hard sharing the search is refused before it starts."""
    from sharenas.data import create_dataset
    from sharenas.runs.training import task_handlers

    config = build_config({**PLANTED, "train": {**PLANTED["train"], "epochs": 2}})
    data = create_dataset(config.data).load()
    s = branching_space(task_handlers(data), data.input_spec, config.model, BranchingSpaceConfig())
    example = data.val.example(2)
    hard = s.tree_flops(s.hard_sharing(), example)
    budget = hard + 0.5 * (s.tree_flops(s.single_task(), example) - hard) / s.layers
    limited = config.model_copy(
        update={"search": config.searched.model_copy(update={"max_flops": budget})}
    )
    record, _ = run_oneshot_search(limited, tmp_path / "s", data=data, progress=False)
    assert record["flops_per_example"] <= budget
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert arch["price_per_flop"] >= 0.0
    too_little = limited.model_copy(
        update={"search": limited.searched.model_copy(update={"max_flops": hard / 2})}
    )
    with pytest.raises(ConfigError, match="cheapest branching architecture"):
        run_oneshot_search(too_little, tmp_path / "t", data=data, progress=False)


def test_a_hard_sharing_answer_is_the_trained_supernet_not_retrained(tmp_path: Path) -> None:
    """At hard sharing's FLOPs only the hard-sharing tree fits: the measuring training already
    trained that network for the full budget, so it is delivered as is instead of retrained."""
    from sharenas.data import create_dataset
    from sharenas.runs.result import open_run
    from sharenas.runs.training import task_handlers

    config = build_config({**PLANTED, "train": {**PLANTED["train"], "epochs": 2}})
    data = create_dataset(config.data).load()
    s = branching_space(task_handlers(data), data.input_spec, config.model, BranchingSpaceConfig())
    hard = s.tree_flops(s.hard_sharing(), data.val.example(2))
    assert s.is_supernet(s.hard_sharing()) and not s.is_supernet(s.single_task())
    limited = config.model_copy(
        update={
            "search": config.searched.model_copy(update={"max_flops": hard, "derive": "retrain"})
        }
    )
    record, _ = run_oneshot_search(limited, tmp_path / "s", data=data, progress=False)
    assert record["groups_per_stage"] == [1] * s.layers
    assert record["derive"] == "none" and "supernet" in record["derive_skipped"]
    assert not (tmp_path / "s" / "retrain").exists() and "retrained" not in record
    assert record["train_seconds"] == record["search_seconds"]
    assert record["primary"] == record["supernet_primary"]  # the supernet, delivered
    assert open_run(tmp_path / "s").config.searched.derive == "none"
