"""The backbone, tower and head options that express the peer libraries' recipes (torch-rechub on
census-income, LibMTL's LeNet on MultiMNIST)."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from sharenas.architectures import build_architecture
from sharenas.architectures.config import ModelConfig
from sharenas.backbones import create_backbone
from sharenas.data.base import InputSpec, MultiTaskDataset, shuffled_batches
from sharenas.data.census_income import INCOME, halves
from sharenas.engine.head_bias import output_layer, set_prior_biases
from sharenas.errors import ConfigError
from sharenas.resources import flops_per_example
from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

TABLE = InputSpec(kind="tabular", num_numeric=3, categorical_cardinalities=(4, 300))
DIGITS = InputSpec(kind="image", channels=1, height=36, width=36)


def handlers():
    specs = [
        TaskSpec(name="b", kind=TaskKind.BINARY),
        TaskSpec(name="c", kind=TaskKind.CLASSIFICATION, num_classes=3),
        TaskSpec(name="r", kind=TaskKind.REGRESSION, dims=2),
    ]
    return [create_task_handler(s) for s in specs]


@pytest.mark.parametrize(("norm", "layer"), [("batch", nn.BatchNorm1d), ("layer", nn.LayerNorm)])
def test_mlp_and_tower_norms(norm: str, layer: type) -> None:
    config = ModelConfig(
        arch="hard-sharing",
        backbone={"name": "mlp", "widths": [8, 4], "norm": norm},
        tower=[5],
        tower_norm=norm,
    )
    model = build_architecture("hard-sharing", handlers(), TABLE, config)
    norms = [m for m in model.modules() if isinstance(m, layer)]
    assert [m.normalized_shape[0] if norm == "layer" else m.num_features for m in norms] == [
        8,
        4,
        5,
        5,
        5,
    ]
    plain_config = ModelConfig(
        backbone={"name": "mlp", "norm": "none"}, tower=[5], tower_norm="none"
    )
    plain = build_architecture("hard-sharing", handlers(), TABLE, plain_config)
    assert not any(isinstance(m, nn.BatchNorm1d | nn.LayerNorm) for m in plain.modules())


def test_embedding_width_and_initialisation() -> None:
    torch.manual_seed(0)
    backbone = create_backbone("mlp", TABLE, embedding_width=16, embedding_std=1e-4)
    widths = [e.embedding_dim for e in backbone.stem.embeddings]
    assert widths == [16, 16]
    std = backbone.stem.embeddings[1].weight.std().item()
    assert 0.8e-4 < std < 1.2e-4
    default = create_backbone("mlp", TABLE, max_embedding=16, embedding_std=None)
    assert [e.embedding_dim for e in default.stem.embeddings] == [3, 16]
    assert 0.8 < default.stem.embeddings[1].weight.std().item() < 1.2


def test_prior_head_biases() -> None:
    tasks = handlers()
    n = 400
    targets = {
        "b": (torch.arange(n) % 4 == 0).float(),  # 25 % positive
        "c": torch.tensor([0] * 200 + [1] * 150 + [2] * 50),
        "r": torch.stack([torch.full((n,), 3.0), torch.linspace(-1, 1, n)], 1),
    }
    inputs = {"numeric": torch.zeros(n, 3), "categorical": torch.zeros(n, 2, dtype=torch.long)}
    train = MultiTaskDataset(inputs, targets, [h.spec for h in tasks])
    config = ModelConfig(arch="hard-sharing", backbone={"name": "mlp", "widths": [8]}, tower=[4])
    model = build_architecture("hard-sharing", tasks, TABLE, config)
    set_prior_biases(model, tasks, train)
    assert output_layer(model.heads["b"]).bias.item() == pytest.approx(np.log(0.25 / 0.75))
    log_shares = np.log([0.5, 0.375, 0.125])
    assert output_layer(model.heads["c"]).bias.detach().numpy() == pytest.approx(log_shares)
    assert output_layer(model.heads["r"]).bias.detach().numpy() == pytest.approx(
        [3.0, 0.0], abs=1e-6
    )

    class Headless(nn.Module):
        pass

    with pytest.raises(ConfigError, match="head_bias"):
        set_prior_biases(Headless(), tasks, train)


def test_lenet_is_libmtls_multimnist_encoder() -> None:
    backbone = create_backbone("lenet", DIGITS)
    outputs = backbone.stage_outputs(torch.randn(2, 1, 36, 36))
    assert [tuple(o.shape[1:]) for o in outputs] == [(10, 16, 16), (20, 6, 6), (50, 1, 1)]
    assert [backbone.feature_shape(i) for i in range(3)] == [(10, 16, 16), (20, 6, 6), (50, 1, 1)]
    fc = backbone.stages[-1][0]
    assert fc.weight.numel() == 720 * 50  # the fully connected layer on the flattened 20×6×6 map
    # conv 1→10 k5 on 32×32, conv 10→20 k5 on 12×12, fc 720→50: multiply-adds, as 2 FLOPs each
    macs = 10 * 25 * 32 * 32 + 20 * 10 * 25 * 12 * 12 + 720 * 50
    assert flops_per_example(backbone, torch.randn(1, 1, 36, 36)) == 2 * macs
    with pytest.raises(ValueError, match="too small"):
        create_backbone("lenet", InputSpec(kind="image", channels=1, height=12, width=12))


def test_stratified_census_halves_keep_the_income_share() -> None:
    income = ["50000+."] * 60 + ["- 50000."] * 941
    test = pd.DataFrame({INCOME: income})
    val, held = halves(test, "stratified")
    assert sorted([*val, *held]) == list(range(len(test)))
    assert (test.iloc[val][INCOME] == "50000+.").sum() == 30
    assert (test.iloc[held][INCOME] == "50000+.").sum() == 30
    random_val, random_held = halves(test, "random")
    assert len(random_val) == 500 and len(random_held) == 501


def test_a_last_batch_of_one_row_joins_the_one_before() -> None:
    batches = shuffled_batches(torch.arange(9), 4, key=3)
    assert [len(b) for b in batches] == [4, 5]
    assert sorted(torch.cat(batches).tolist()) == list(range(9))
    assert [len(b) for b in shuffled_batches(torch.arange(1), 4, key=3)] == [1]


def test_experts_can_be_narrower_than_the_shared_bottom() -> None:
    config = ModelConfig(
        arch="mmoe",
        backbone={"name": "mlp", "widths": [117]},
        expert_backbone={"name": "mlp", "widths": [16]},
        experts=8,
    )
    mmoe = build_architecture("mmoe", handlers(), TABLE, config)
    widths = {m.out_features for m in mmoe.blocks.modules() if isinstance(m, nn.Linear)}
    assert widths == {16}
    hard = build_architecture("hard-sharing", handlers(), TABLE, config)
    assert {m.out_features for m in hard.blocks.modules() if isinstance(m, nn.Linear)} == {117}


def test_libmtl_recipe_builds_every_model_and_space_on_lenet() -> None:
    """The LibMTL recipe's baselines and the three spaces plug into the lenet backbone."""
    from sharenas.spaces.fusion import FusionSpaceConfig, fusion_space
    from sharenas.spaces.partition import PartitionSpaceConfig, partition_space
    from sharenas.spaces.routing import RoutingSpaceConfig, routing_space

    digits = [
        create_task_handler(TaskSpec(name=n, kind=TaskKind.CLASSIFICATION, num_classes=10))
        for n in ("left", "right")
    ]
    config = ModelConfig(backbone={"name": "lenet"}, experts=2)
    x = torch.randn(3, 1, 36, 36)
    for arch in ("single-task", "hard-sharing", "mmoe", "cross-stitch", "nddr"):
        out = build_architecture(arch, digits, DIGITS, config)(x)
        assert {t: v.shape for t, v in out.items()} == {"left": (3, 10), "right": (3, 10)}
    generator = torch.Generator().manual_seed(0)
    fusion = fusion_space(digits, DIGITS, config, FusionSpaceConfig())
    routing = routing_space(digits, DIGITS, config, RoutingSpaceConfig(experts=2))
    partition = partition_space(digits, DIGITS, config, PartitionSpaceConfig())
    for space in (fusion, routing, partition):
        network = space.build(space.sample(generator))
        assert network(x)["left"].shape == (3, 10)
