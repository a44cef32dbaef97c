import json

import pytest
import torch

from sharenas.backbones import create_backbone
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError
from sharenas.resources import flops_per_example
from sharenas.spaces.fusion import Edge, FusionGenotype, FusionNode, FusionSpace, candidate_edges
from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

IMAGE = InputSpec(kind="image", channels=1, height=16, width=16)
TABLE = InputSpec(kind="tabular", num_numeric=5)


def handlers(n: int = 2, kind: str = "classification", names=None):
    extra = {"num_classes": 4} if kind == "classification" else {}
    names = names or [f"t{i}" for i in range(n)]
    return [
        create_task_handler(TaskSpec(name=name, kind=TaskKind(kind), **extra)) for name in names
    ]


def space(n=2, spec=IMAGE, backbones=None, names=None, **kw) -> FusionSpace:
    backbones = backbones or {}

    def factory(task: str):
        name, params = backbones.get(
            task,
            ("cnn", {"channels": [4, 8, 8]})
            if spec.kind == "image"
            else ("mlp", {"widths": [6, 6, 6]}),
        )
        return create_backbone(name, spec, **params)

    return FusionSpace(handlers(n, "classification", names), factory, **kw)


def test_candidate_edges_follow_the_connectivity_rule() -> None:
    vision = {"a": [2, 4, 8], "b": [2, 4, 8]}
    same = candidate_edges(vision, "same-resolution", 3)
    assert {(e.source_stage, e.target_stage) for e in same} == {(0, 0), (1, 1), (2, 2)}
    assert len(same) == 6
    assert len(candidate_edges(vision, "all-earlier", 3)) == 12  # 1 + 2 + 3 per direction
    vectors = {"a": [1, 1, 1], "b": [1, 1, 1]}
    assert len(candidate_edges(vectors, "same-resolution", 3)) == 12
    assert len(candidate_edges(vectors, "same-resolution", 1)) == 6
    assert len(candidate_edges({**vectors, "c": [1, 1, 1]}, "same-resolution", 1)) == 18
    assert all(
        e.source != e.target and e.source_stage <= e.target_stage
        for e in candidate_edges(vision, "all-earlier", 3)
    )


def test_no_candidate_edge_is_a_clear_error() -> None:
    backbones = {"t0": ("cnn", {"channels": [4]}), "t1": ("resnet", {"channels": [4]})}
    with pytest.raises(ConfigError, match="yields no candidate edge.*all-earlier"):
        space(backbones=backbones)
    assert space(backbones=backbones, connectivity="all-earlier").candidates


def test_genotype_round_trips_through_json() -> None:
    genotype = FusionGenotype((Edge("t1", 0, "t0", 0), Edge("t0", 1, "t1", 1)))
    again = FusionGenotype.from_dict(json.loads(genotype.to_json()))
    assert again == FusionGenotype(tuple(sorted(genotype.edges)))
    with pytest.raises(ConfigError, match="not a fusion genotype"):
        FusionGenotype.from_dict({"space": "routing"})
    with pytest.raises(ConfigError, match="not of the form"):
        Edge.parse("t0-0->t1")


def test_hand_edited_genotype_errors() -> None:
    s = space()
    with pytest.raises(ConfigError, match="names task 'depth', which is not in the task set"):
        s.build(FusionGenotype((Edge("depth", 0, "t0", 0),)))
    with pytest.raises(ConfigError, match="names stage 7 of 't1'"):
        s.build(FusionGenotype((Edge("t1", 7, "t0", 0),)))
    with pytest.raises(ConfigError, match="not a candidate edge"):
        s.build(FusionGenotype((Edge("t1", 0, "t0", 2),)))


def test_identity_initialisation() -> None:
    node = FusionNode(3, [3, 3], spatial=True, own_weight=0.5).eval()
    own, a, b = (torch.randn(2, 3, 4, 4) for _ in range(3))
    expected = torch.relu((0.5 * own + 0.25 * a + 0.25 * b) / torch.sqrt(torch.tensor(1 + 1e-5)))
    assert torch.allclose(node(own, [a, b]), expected, atol=1e-5)


@pytest.mark.parametrize("spec", [IMAGE, TABLE])
def test_derived_equals_supernet_when_gates_are_exactly_0_or_1(spec: InputSpec) -> None:
    torch.manual_seed(0)
    # task order unlike alphabetical order, and all-earlier connectivity, so that nodes have
    # several incoming edges whose order matters when weight columns are inherited
    s = space(3, spec, names=["seg", "depth", "normal"], connectivity="all-earlier")
    supernet = s.supernet().eval()
    with torch.no_grad():
        supernet.alpha.copy_(torch.randn(len(s.candidates)) * 3)
        for node in supernet.nodes.values():
            node.reduce.weight.normal_()  # not the identity: every edge matters
    supernet.gate_mode = "hard"
    genotype = s.derive(supernet)
    assert 0 < len(genotype.edges) < len(s.candidates)
    derived = s.inherit(supernet, genotype).eval()
    x = torch.randn(4, 1, 16, 16) if spec.kind == "image" else {"numeric": torch.randn(4, 5)}
    expected, got = supernet(x), derived(x)
    for task in expected:
        assert torch.allclose(expected[task], got[task], atol=1e-5)
    assert sum(p.numel() for p in derived.parameters()) < sum(
        p.numel() for p in supernet.parameters()
    )


def test_pruned_edges_cost_no_flops() -> None:
    s = space()
    x = torch.randn(2, 1, 16, 16)
    none = flops_per_example(s.build(s.single_task()), x)
    some = flops_per_example(s.build(FusionGenotype(s.candidates[:2])), x)
    every = flops_per_example(s.build(FusionGenotype(tuple(s.candidates))), x)
    assert none < some < every


def test_differing_backbones_and_three_tasks_run() -> None:
    backbones = {
        "t0": ("cnn", {"channels": [4, 8]}),
        "t1": ("resnet", {"channels": [4, 8, 16]}),
        "t2": ("cnn", {"channels": [8, 8, 8]}),
    }
    # own_weight < 1: with 1 the source columns start at 0 and α gets no gradient on step one
    s = space(3, backbones=backbones, connectivity="all-earlier", own_weight=0.5)
    supernet = s.supernet()
    supernet.gate_mode = "sample"
    supernet.temperature = 0.5
    out = supernet(torch.randn(2, 1, 16, 16))
    assert {k: v.shape for k, v in out.items()} == {f"t{i}": (2, 4) for i in range(3)}
    out["t0"].sum().backward()
    assert supernet.alpha.grad is not None and supernet.alpha.grad.abs().sum() > 0


def test_named_genotypes_are_the_extremes() -> None:
    s = space()
    assert s.single_task().edges == ()
    nddr = s.all_same_stage()
    assert len(nddr.edges) == 6 and all(e.source_stage == e.target_stage for e in nddr.edges)


def test_task_backbones_from_the_config() -> None:
    from sharenas.architectures.config import ModelConfig
    from sharenas.spaces.fusion import FusionSpaceConfig, fusion_space

    tasks = handlers(2)
    config = ModelConfig(
        backbone={"name": "cnn", "channels": [4, 8]},
        task_backbones={"t1": {"name": "resnet", "channels": [4, 8, 8]}},
    )
    s = fusion_space(tasks, IMAGE, config, FusionSpaceConfig(connectivity="all-earlier"))
    assert [len(v) for v in s.stage_specs.values()] == [2, 3]
    out = s.supernet()(torch.randn(2, 1, 16, 16))
    assert out["t0"].shape == out["t1"].shape == (2, 4)
    wrong = ModelConfig(task_backbones={"depth": {"name": "cnn"}})
    with pytest.raises(ConfigError, match="model.task_backbones.depth: no task 'depth'"):
        fusion_space(tasks, IMAGE, wrong, FusionSpaceConfig())
