import pytest
import torch

from sharenas.architectures import architecture_names, build_architecture
from sharenas.architectures.config import ModelConfig
from sharenas.architectures.cross_stitch import CrossStitchUnit
from sharenas.backbones import create_backbone
from sharenas.data.base import InputSpec
from sharenas.errors import ConfigError
from sharenas.spaces.fusion import FusionNetwork, FusionSpaceConfig, fusion_space
from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

TABLE = InputSpec(kind="tabular", num_numeric=3, categorical_cardinalities=(4, 7))
IMAGE = InputSpec(kind="image", channels=1, height=16, width=16)


def table_batch(n: int = 6) -> dict[str, torch.Tensor]:
    return {"numeric": torch.randn(n, 3), "categorical": torch.randint(0, 4, (n, 2))}


def handlers(*specs: tuple[str, str, dict]):
    return [create_task_handler(TaskSpec(name=n, kind=TaskKind(k), **kw)) for n, k, kw in specs]


@pytest.mark.parametrize(
    ("name", "params", "spec"),
    [
        ("mlp", {"widths": [8, 4]}, TABLE),
        ("cnn", {"channels": [4, 8]}, IMAGE),
        ("resnet", {"channels": [4, 8, 8]}, IMAGE),
        ("encdec", {"channels": [4, 8, 8]}, IMAGE),
    ],
)
def test_backbone_stages_match_their_declared_specs(name, params, spec) -> None:
    backbone = create_backbone(name, spec, **params)
    x = table_batch(3) if spec.kind == "tabular" else torch.randn(3, 1, 16, 16)
    outputs = backbone.stage_outputs(x)
    assert len(outputs) == len(backbone.stage_specs)
    for i, out in enumerate(outputs):
        assert tuple(out.shape[1:]) == backbone.feature_shape(i)
    assert backbone(x).shape == outputs[-1].shape


@pytest.mark.parametrize(
    "arch", ["single-task", "hard-sharing", "cross-stitch", "nddr", "mmoe", "ple"]
)
def test_every_architecture_on_tables(arch: str) -> None:
    tasks = handlers(
        ("a", "binary", {}), ("b", "regression", {}), ("c", "classification", {"num_classes": 3})
    )
    config = ModelConfig(arch=arch, backbone={"name": "mlp", "widths": [8, 4]}, tower=[5])
    model = build_architecture(arch, tasks, TABLE, config)
    out = model(table_batch())
    assert out["a"].shape == (6,) and out["b"].shape == (6,) and out["c"].shape == (6, 3)
    loss = sum(
        h.loss(out[h.name], t)
        for h, t in zip(
            tasks, (torch.ones(6), torch.zeros(6), torch.zeros(6, dtype=torch.long)), strict=True
        )
    )
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    "arch", ["single-task", "hard-sharing", "cross-stitch", "nddr", "mmoe", "ple"]
)
@pytest.mark.parametrize("backbone", ["cnn", "resnet", "encdec"])
def test_vision_architectures_on_dense_and_image_tasks(arch: str, backbone: str) -> None:
    tasks = handlers(
        ("seg", "segmentation", {"num_classes": 5}),
        ("depth", "depth", {}),
        ("digit", "classification", {"num_classes": 10}),
    )
    config = ModelConfig(arch=arch, backbone={"name": backbone, "channels": [4, 8]})
    model = build_architecture(arch, tasks, IMAGE, config)
    out = model(torch.randn(2, 1, 16, 16))
    assert out["seg"].shape == (2, 5, 16, 16)
    assert out["depth"].shape == (2, 1, 16, 16)
    assert out["digit"].shape == (2, 10)


def test_architecture_errors() -> None:
    tasks = handlers(("a", "binary", {}), ("b", "binary", {}))
    config = ModelConfig(arch="hard-sharing", backbone={"name": "mlp"})
    with pytest.raises(ConfigError, match="model.backbone: the mlp backbone reads tables"):
        build_architecture("hard-sharing", tasks, IMAGE, config)
    with pytest.raises(
        ConfigError, match="unknown architecture 'hard-shared'. Did you mean 'hard-sharing'"
    ):
        build_architecture("hard-shared", tasks, TABLE, ModelConfig())
    with pytest.raises(ConfigError, match="needs at least 2 tasks"):
        build_architecture("nddr", tasks[:1], TABLE, ModelConfig())
    assert set(architecture_names()) == {
        "single-task",
        "hard-sharing",
        "cross-stitch",
        "nddr",
        "mmoe",
        "ple",
        "task-groups",
        "fusion",
        "routing",
        "partition",
        "branching",
    }


def test_cross_stitch_unit_initialisation() -> None:
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    identity = CrossStitchUnit(2, 3, own_weight=1.0)
    out = identity([a, b])
    assert torch.equal(out[0], a) and torch.equal(out[1], b)
    mixed = CrossStitchUnit(2, 3, own_weight=0.9)([a, b])
    assert torch.allclose(mixed[0], 0.9 * a + 0.1 * b, atol=1e-6)


@pytest.mark.parametrize(
    ("spec", "backbone"),
    [
        (TABLE, {"name": "mlp", "widths": [8, 4]}),
        (IMAGE, {"name": "cnn", "channels": [4, 8]}),
    ],
)
def test_nddr_is_the_fusion_spaces_all_same_stage_genotype(spec, backbone) -> None:
    """One code path: the engine's NDDR baseline is built by the fusion space."""
    tasks = handlers(("a", "binary", {}), ("b", "binary", {}), ("c", "binary", {}))
    config = ModelConfig(arch="nddr", backbone=backbone, own_weight=0.8)
    model = build_architecture("nddr", tasks, spec, config)
    assert isinstance(model, FusionNetwork) and not model.supernet
    space = fusion_space(tasks, spec, config, FusionSpaceConfig(depth_limit=1), own_weight=0.8)
    reference = space.build(space.all_same_stage())
    assert model.edges == reference.edges
    assert all(e.source_stage == e.target_stage for e in model.edges)
    assert len(model.edges) == 3 * 2 * len(model.backbones["a"].stages)
    assert [p.shape for p in model.parameters()] == [p.shape for p in reference.parameters()]
    # the paper's diagonal initialisation: 0.8·I on its own channels, 0.1·I on each other task's
    weight = model.nodes["b:0"].reduce.weight.reshape(model.nodes["b:0"].own, -1)
    channels = model.nodes["b:0"].own
    assert torch.allclose(weight[:, :channels], 0.8 * torch.eye(channels))
    assert torch.allclose(weight[:, channels : 2 * channels], 0.1 * torch.eye(channels))


def test_fusion_architecture_needs_a_genotype() -> None:
    tasks = handlers(("a", "binary", {}), ("b", "binary", {}))
    with pytest.raises(ConfigError, match="needs model.genotype"):
        build_architecture("fusion", tasks, TABLE, ModelConfig(arch="fusion"))
