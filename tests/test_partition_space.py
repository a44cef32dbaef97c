"""The partition matrix P (Feature Partitioning): feasibility, rescaling, masks solved from P."""

from pathlib import Path

import pytest
import torch

from sharenas.errors import ConfigError
from sharenas.spaces.partition import (
    PartitionGenotype,
    feasible_gradient_matrix,
    feasible_matrix,
    feasible_range,
    gradient_range,
    independent,
    realised_matrix,
    share_all,
    solve_masks,
    validate_gradient_matrix,
    validate_matrix,
)


def test_feasible_range_by_hand() -> None:
    assert feasible_range(0.7, 0.6) == pytest.approx((0.3, 0.6))
    assert feasible_range(0.3, 0.4) == pytest.approx((0.0, 0.3))


def test_raw_values_are_rescaled_into_the_feasible_range() -> None:
    p = feasible_matrix([0.7, 0.6], [0.5])
    assert float(p[0, 1]) == pytest.approx(0.45) and float(p[1, 0]) == pytest.approx(0.45)
    assert float(feasible_matrix([0.7, 0.6], [0.0])[0, 1]) == pytest.approx(0.3)
    assert float(feasible_matrix([0.7, 0.6], [1.0])[0, 1]) == pytest.approx(0.6)


@pytest.mark.parametrize(
    ("p", "message"),
    [
        ([[0.5, 0.6], [0.6, 0.5]], r"P\[0\]\[1\] = 0.6 is outside its feasible range \[0, 0.5\]"),
        ([[0.0, 0.0], [0.0, 0.5]], r"P\[0\]\[0\] = 0: a task's share"),
        ([[0.5, 0.1], [0.2, 0.5]], "must be symmetric"),
        ([[1.0]], "N ≥ 2 tasks"),
    ],
)
def test_infeasible_matrices_are_clear_errors(p, message) -> None:
    with pytest.raises(ConfigError, match=message):
        validate_matrix(torch.tensor(p, dtype=torch.float64))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_masks_realise_the_matrix(seed: int) -> None:
    channels = 64
    p = feasible_matrix([0.5, 0.75, 0.25], [0.5, 0.3, 0.8])
    masks = solve_masks(p, channels, seed)
    assert masks.shape == (3, channels)
    realised = realised_matrix(masks)
    assert torch.allclose(realised.diagonal(), p.diagonal(), atol=1 / channels)
    assert torch.allclose(realised, p, atol=2 / channels)  # pairwise-consistent targets
    assert torch.equal(masks, solve_masks(p, channels, seed))  # deterministic for a seed


def test_extremes_are_matrices() -> None:
    assert solve_masks(share_all(3), 16).all()
    masks = solve_masks(independent(4), 16)
    assert masks.sum(1).tolist() == [4, 4, 4, 4] and masks.sum(0).max() == 1  # disjoint


def test_genotype_round_trips_and_validates() -> None:
    genotype = PartitionGenotype.of(("a", "b"), [feasible_matrix([0.5, 0.5], [0.5])])
    assert PartitionGenotype.from_dict(genotype.to_dict()) == genotype
    assert torch.equal(genotype.matrix(3), genotype.matrix(0))  # one matrix shared by stages
    with pytest.raises(ConfigError, match="but there are 3 tasks"):
        PartitionGenotype.of(("a", "b", "c"), [share_all(2)])
    with pytest.raises(ConfigError, match="belongs to another space"):
        PartitionGenotype.from_dict({"space": "partition", "edges": []})


# --- the partitioned network and its resources --------------------------------------------


def partitioned(backbone_name: str, params: dict, spec, masked: list[int], matrix, tasks="abc"):
    from sharenas.backbones import create_backbone
    from sharenas.spaces.partition_network import PartitionNetwork
    from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

    handlers = [
        create_task_handler(TaskSpec(name=n, kind=TaskKind.CLASSIFICATION, num_classes=4))
        for n in tasks
    ]
    backbone = create_backbone(backbone_name, spec, **params)
    masks = {s: solve_masks(matrix, backbone.stage_specs[s].channels, seed=s) for s in masked}
    return PartitionNetwork(handlers, backbone, masks).eval()


def _inputs(kind: str):
    from sharenas.data.base import InputSpec

    if kind == "image":
        return InputSpec(kind="image", channels=1, height=16, width=16), torch.randn(3, 1, 16, 16)
    spec = InputSpec(kind="tabular", num_numeric=5)
    return spec, {"numeric": torch.randn(3, 5)}


@pytest.mark.parametrize(
    ("backbone", "params", "kind", "masked"),
    [
        ("cnn", {"channels": [4, 8, 8]}, "image", [1, 2]),
        ("cnn", {"channels": [4, 8, 8]}, "image", [2]),
        ("mlp", {"widths": [12, 10, 8]}, "tabular", [0, 2]),
        ("encdec", {"channels": [4, 8, 8]}, "image", [1, 3]),
    ],
)
def test_resources_from_masks_match_the_pruned_networks(backbone, params, kind, masked) -> None:
    """Per-task FLOPs (torch.utils.flop_counter) and parameters of the physically pruned
    single-task networks equal those computed from the masks; their outputs equal the task's."""
    from sharenas.resources import count_parameters, flops_per_example
    from sharenas.spaces.partition_resources import PrunedTaskNetwork, partition_resources

    torch.manual_seed(0)
    spec, x = _inputs(kind)
    matrix = feasible_matrix([0.5, 0.75, 0.25], [0.5, 0.3, 0.8])
    network = partitioned(backbone, params, spec, masked, matrix)
    resources = partition_resources(network, x)
    outputs = network(x)
    for task in "abc":
        pruned = PrunedTaskNetwork(network, task).eval()
        assert resources.per_task_flops[task] == flops_per_example(pruned, x)
        assert resources.per_task_params[task] == count_parameters(pruned)
        assert torch.allclose(pruned(x), outputs[task], atol=1e-5)
    assert resources.total_params <= count_parameters(network)


def test_share_all_costs_one_network_and_independent_splits_it() -> None:
    from sharenas.resources import flops_per_example
    from sharenas.spaces.partition_resources import partition_resources

    spec, x = _inputs("image")
    params = {"channels": [4, 8, 8]}
    shared = partitioned("cnn", params, spec, [1, 2], share_all(3))
    alone = partition_resources(shared, x)
    with torch.no_grad():
        one_network = flops_per_example(shared.backbone, x) + sum(
            flops_per_example(h, shared.backbone(x)) for h in shared.heads.values()
        )
    assert alone.total_flops == one_network  # identical masks: every stage computed once
    split = partition_resources(partitioned("cnn", params, spec, [1, 2], independent(3)), x)
    assert max(split.per_task_flops.values()) < min(alone.per_task_flops.values())


# --- gradient masks (the paper's backward masks) ------------------------------------------


def test_gradient_range_by_hand() -> None:
    p = feasible_matrix([0.5, 0.5], [0.5])  # 0.75 of the channels read by either task
    assert gradient_range(p, 0, 1, 0.5, 0.5) == pytest.approx((0.25, 0.25))  # G = P
    assert gradient_range(p, 0, 1, 0.25, 0.25) == pytest.approx((0.0, 0.25))
    g = feasible_gradient_matrix(p, [0.5, 1.0], [0.0])
    assert g.diagonal().tolist() == pytest.approx([0.25, 0.5])
    assert float(g[0, 1]) == pytest.approx(0.0)  # 0.25 + 0.5 fit in the 0.75 read


@pytest.mark.parametrize(
    ("g", "message"),
    [
        ([[0.75, 0.0], [0.0, 0.5]], r"G\[0\]\[0\] = 0.75: a task trains a part"),
        ([[0.5, 0.4], [0.4, 0.5]], r"G\[0\]\[1\] = 0.4 is outside its feasible range"),
        ([[0.5, 0.25], [0.2, 0.5]], "must be symmetric"),
        ([[0.5]], "must match its partition matrix"),
    ],
)
def test_infeasible_gradient_matrices_are_clear_errors(g, message) -> None:
    p = feasible_matrix([0.5, 0.5], [0.5])
    with pytest.raises(ConfigError, match=message):
        validate_gradient_matrix(torch.tensor(g, dtype=torch.float64), p)


@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_masks_lie_inside_forward_masks_and_realise_g(seed: int) -> None:
    channels = 64
    p = feasible_matrix([0.5, 0.75, 0.5], [0.5, 0.3, 0.8])
    g = feasible_gradient_matrix(p, [0.5, 0.75, 0.5], [0.5, 0.5, 0.5])
    forward = solve_masks(p, channels, seed)
    gradient = solve_masks(g, channels, seed, within=forward)
    assert not (gradient & ~forward).any()
    assert torch.allclose(realised_matrix(gradient), g, atol=3 / channels)


def test_genotype_with_gradients_round_trips_and_validates() -> None:
    p = feasible_matrix([0.5, 0.5], [0.5])
    g = feasible_gradient_matrix(p, [0.5, 0.5], [0.0])
    genotype = PartitionGenotype.of(("a", "b"), [p], [g])
    assert PartitionGenotype.from_dict(genotype.to_dict()) == genotype
    assert torch.equal(genotype.gradient_matrix(2), g)
    assert PartitionGenotype.of(("a", "b"), [p]).gradient_matrix(0) is None
    with pytest.raises(ConfigError, match="1 gradient matrices for 2 partition matrices"):
        PartitionGenotype.of(("a", "b"), [p, p], [g])
    with pytest.raises(ConfigError, match=r"gradients\[0\]\[0\]\[0\] = 1"):
        PartitionGenotype.of(("a", "b"), [p], [share_all(2)])


def _masked_parameters(network):
    from sharenas.spaces.partition_network import mask_points

    return [
        (module, stage)
        for stage in network.masked
        for pair in mask_points(network.backbone.stages[stage])
        for module in pair
        if module is not None
    ]


@pytest.mark.parametrize("masked", [[2], [1, 2]])
def test_gradient_masks_restrict_what_a_task_trains(masked) -> None:
    """Outputs and the gradient reaching the layers below are those of the network without
    gradient masks; a task's loss updates only the masked parameters of its gradient channels."""
    from sharenas.backbones import create_backbone
    from sharenas.spaces.partition_network import PartitionNetwork
    from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

    spec, x = _inputs("image")
    handlers = [
        create_task_handler(TaskSpec(name=n, kind=TaskKind.CLASSIFICATION, num_classes=4))
        for n in "ab"
    ]
    p = feasible_matrix([0.75, 0.75], [0.5])
    g = feasible_gradient_matrix(p, [0.34, 0.67], [0.0])
    networks = []
    for gradients in (False, True):
        torch.manual_seed(0)
        backbone = create_backbone("cnn", spec, channels=[4, 8, 12])
        forward = {s: solve_masks(p, backbone.stage_specs[s].channels, s) for s in masked}
        gradient = {
            s: solve_masks(g, backbone.stage_specs[s].channels, s, within=forward[s])
            for s in masked
        }
        gradient = gradient if gradients else None
        networks.append(PartitionNetwork(handlers, backbone, forward, gradient_masks=gradient))
    plain, masked_network = (network.train() for network in networks)
    for t, task in enumerate("ab"):
        for network in networks:
            network.zero_grad()
            network(x)[task].square().sum().backward()
        assert torch.allclose(plain(x)[task], masked_network(x)[task])
        stem = [q.grad for q in masked_network.backbone.stem.parameters()]
        assert all(
            torch.allclose(a, b.grad)
            for a, b in zip(stem, plain.backbone.stem.parameters(), strict=True)
        )
        for module, stage in _masked_parameters(masked_network):
            keep = masked_network.gradient_mask(stage, t)
            reads = masked_network.mask(stage, t).bool()
            for parameter in module.parameters(recurse=False):
                rows = parameter.grad.reshape(parameter.shape[0], -1).abs().sum(1)
                assert (rows[~keep] == 0).all()
                assert (rows[keep] > 0).any()
                assert bool(keep.sum() < reads.sum())  # some channels are read, not trained


def _image_space(tasks: str, channels: list[int], **settings: object):  # type: ignore[no-untyped-def]
    """The partition space of a small CNN over classification tasks named by ``tasks``."""
    from sharenas.config import ModelConfig
    from sharenas.spaces.partition import PartitionSpaceConfig, partition_space
    from sharenas.tasks import TaskKind, TaskSpec, create_task_handler

    handlers = [
        create_task_handler(TaskSpec(name=n, kind=TaskKind.CLASSIFICATION, num_classes=4))
        for n in tasks
    ]
    spec, _ = _inputs("image")
    model = ModelConfig.model_validate({"backbone": {"name": "cnn", "channels": channels}})
    return partition_space(handlers, spec, model, PartitionSpaceConfig(**settings))


def test_space_searches_gradient_matrices() -> None:
    plain = _image_space("abc", [4, 8, 8])
    space = _image_space("abc", [4, 8, 8], gradient_masks=True)
    assert space.vector_size == 2 * plain.vector_size == 12
    generator = torch.Generator().manual_seed(0)
    for _ in range(10):
        genotype = space.genotype_from_vector(torch.rand(12, generator=generator).tolist())
        assert len(genotype.gradients) == 1
        network = space.build(genotype)
        assert not (network.gradient_mask(2, 0) & ~network.mask(2, 0).bool()).any()
    for label, vector in space.reference_vectors().items():
        genotype = space.genotype_from_vector(vector)
        assert torch.allclose(genotype.gradient_matrix(0), genotype.matrix(0)), label


def test_norms_in_masked_stages_keep_running_statistics_per_task() -> None:
    """A training pass of one task moves only its own running statistics; the pruned network
    of each task, which carries that task's statistics, still equals the task's output."""
    from sharenas.spaces.partition_resources import PrunedTaskNetwork

    torch.manual_seed(0)
    spec, x = _inputs("image")
    network = partitioned("cnn", {"channels": [4, 8, 8]}, spec, [1, 2], share_all(3))
    before = {t: network.task_statistics(2, t) for t in range(3)}
    before = {t: {k: v.clone() for k, v in s.items()} for t, s in before.items()}
    assert before[0]  # the stage's norms have per-task statistics
    network.train()
    with torch.no_grad():
        h = network.backbone.stem(x)
        for stage in network.backbone.stages[:1]:
            h = stage(h)
        network.task_features(h * 3.0 + 1.0, 1, 1)  # only task b, on shifted inputs
    for t in range(3):
        after = network.task_statistics(2, t)
        moved = any(not torch.equal(after[k], before[t][k]) for k in after)
        assert moved == (t == 1)
    network.eval()
    outputs = network(x)
    for task in "abc":
        assert torch.allclose(PrunedTaskNetwork(network, task).eval()(x), outputs[task], atol=1e-5)


# --- the delivered network: pruned, paths shared ----------------------------------------------


@pytest.mark.parametrize(
    ("backbone", "params", "kind", "masked", "matrix"),
    [
        ("cnn", {"channels": [4, 8, 8]}, "image", [1, 2], "mixed"),
        ("cnn", {"channels": [4, 8, 8]}, "image", [0, 1, 2], "share-all"),
        ("cnn", {"channels": [4, 8, 8]}, "image", [2], "independent"),
        ("mlp", {"widths": [12, 10, 8]}, "tabular", [0, 2], "mixed"),
        ("mlp", {"widths": [12, 10, 8]}, "tabular", [1], "two-alike"),
        ("encdec", {"channels": [4, 8, 8]}, "image", [1, 3], "mixed"),
        ("encdec", {"channels": [4, 8, 8]}, "image", [3], "mixed"),  # up-sampling first
    ],
)
def test_delivered_network_costs_what_the_resources_say(
    backbone, params, kind, masked, matrix
) -> None:
    """The delivered network (physically pruned, coinciding paths shared) reproduces the
    partitioned network's outputs, and torch.utils.flop_counter and its parameter count equal
    the totals computed from the masks."""
    from sharenas.resources import count_parameters, flops_per_example
    from sharenas.spaces.partition_deployed import DeployedPartitionNetwork
    from sharenas.spaces.partition_resources import partition_resources

    torch.manual_seed(0)
    spec, x = _inputs(kind)
    matrices = {
        "mixed": feasible_matrix([0.5, 0.75, 0.25], [0.5, 0.3, 0.8]),
        "share-all": share_all(3),
        "independent": independent(3),
        "two-alike": torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.5]]),
    }
    network = partitioned(backbone, params, spec, masked, matrices[matrix])
    with torch.no_grad():  # running statistics of the norms away from their initial values
        for name, buffer in network.named_buffers():  # per task: (tasks, C), alike for all
            if "statistics" in name and buffer.dtype.is_floating_point:
                buffer.add_(torch.rand_like(buffer[:1]) * 0.5)
    deployed = DeployedPartitionNetwork(network).eval()
    resources = partition_resources(network, x)
    assert flops_per_example(deployed, x) == resources.total_flops
    assert count_parameters(deployed) == resources.total_params
    expected, got = network(x), deployed(x)
    for task in "abc":
        assert torch.allclose(got[task], expected[task], atol=1e-5), task
    if matrix == "share-all":
        assert all(len(set(chain)) == len(chain) for chain in deployed.chains)
        assert len(deployed.nodes) == 3  # one pass per stage for the three tasks
    if matrix == "two-alike":
        assert deployed.chains[0] == deployed.chains[1] != deployed.chains[2]


def test_tasks_with_their_own_statistics_do_not_share_a_pass() -> None:
    from sharenas.spaces.partition_deployed import DeployedPartitionNetwork

    torch.manual_seed(0)
    spec, x = _inputs("image")
    network = partitioned("cnn", {"channels": [4, 8, 8]}, spec, [1, 2], share_all(3))
    with torch.no_grad():  # task c's norms saw other inputs (e.g. its own domain)
        for name, buffer in network.named_buffers():
            if "statistics" in name and buffer.dtype.is_floating_point:
                buffer[2].add_(torch.rand_like(buffer[2]))
    deployed = DeployedPartitionNetwork(network).eval()
    assert deployed.chains[0] == deployed.chains[1] and deployed.chains[2] != deployed.chains[0]
    expected, got = network(x), deployed(x)
    assert all(torch.allclose(got[t], expected[t], atol=1e-5) for t in "abc")


def test_groupings_become_partitions_whose_groups_share_private_channels() -> None:
    space = _image_space("abcd", [4, 8, 16])
    corners = space.reference_vectors()
    assert corners["share-all"] == space.grouping_vector([["a", "b", "c", "d"]])
    assert corners["independent"] == space.grouping_vector([["a"], ["b"], ["c"], ["d"]])
    found = space.reference_vectors([[["a", "c", "d"], ["b"]]], share_all=False)
    assert list(found) == ["independent", "a c d | b"]
    masks = space.masks(space.genotype_from_vector(found["a c d | b"]))[2]
    assert masks.sum(dim=1).tolist() == [12, 4, 12, 12]  # 3/4 and 1/4 of 16 channels
    assert torch.equal(masks[0], masks[2]) and torch.equal(masks[0], masks[3])
    assert not (masks[0] & masks[1]).any()  # the groups' channels are private
    assert list(space.reference_vectors([[["a", "b", "c", "d"]]])) == ["share-all", "independent"]
    for bad in ([["a", "b"], ["c"]], [["a", "b"], ["c", "d", "a"]], [["a", "b", "c", "d"], []]):
        with pytest.raises(ConfigError, match="search.study.groupings"):
            space.grouping_vector(bad)


def test_study_and_evaluation_settings_refuse_what_cannot_work(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from sharenas.errors import ConfigError
    from sharenas.runs.partition_eval import check_reference
    from sharenas.spaces.partition_config import PartitionEvalConfig, StudyConfig
    from tests.test_architectures import handlers

    for bad in ([[["a", "b"], []]], [[["a", "b"], ["b", "c"]]]):
        with pytest.raises(ValidationError, match="search.study.groupings"):
            StudyConfig(groupings=bad)
    with pytest.raises(ValidationError, match="distill compares with single-task teachers"):
        PartitionEvalConfig(evaluator="distill", reference=str(tmp_path))
    tasks = handlers(("a", "regression", {}), ("b", "regression", {}))

    class Settings:  # the two fields check_reference reads
        def __init__(self, reference: str) -> None:
            self.searched = type("S", (), {"evaluation": PartitionEvalConfig(reference=reference)})

    with pytest.raises(ConfigError, match="not a finished run folder"):
        check_reference(Settings(str(tmp_path / "nowhere")), tasks)  # type: ignore[arg-type]
    (tmp_path / "metrics.json").write_text(
        '{"val": {"a": {"mse": 1.0}}, "primary": {"a": 1.0}, "flops_per_example": 1, "params": 1}'
    )
    with pytest.raises(ConfigError, match=r"no metrics of task\(s\) b"):
        check_reference(Settings(str(tmp_path)), tasks)  # type: ignore[arg-type]


def test_a_study_signature_without_a_reference_is_the_one_older_studies_recorded(
    tmp_path: Path,
) -> None:
    from sharenas.api import resolve_config
    from sharenas.runs.partition import _evaluation, _queued
    from tests.test_auto import write_config

    config = resolve_config(write_config(tmp_path), ["search.space=partition"])
    assert "reference" not in _evaluation(config) and _queued(config) == {}
    given = resolve_config(
        write_config(tmp_path),
        ["search.space=partition", f"search.evaluation.reference={tmp_path}"],
    )
    assert _evaluation(given)["reference"] == str(tmp_path)
