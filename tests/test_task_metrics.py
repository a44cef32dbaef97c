"""Every metric and loss against values computed by hand."""

import math

import pytest
import torch

from sharenas.tasks import TaskKind, TaskSpec, Tower, create_task_handler, delta_mtl, make_head


def handler(kind: str, **kw):
    return create_task_handler(TaskSpec(name="t", kind=TaskKind(kind), **kw))


def compute(h, prediction, target) -> dict[str, float]:
    metric = h.metric()
    metric.update(prediction, target)
    return {k: float(v) for k, v in metric.compute().items()}


def test_classification_accuracy_and_loss() -> None:
    h = handler("classification", num_classes=3)
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    target = torch.tensor([0, 1, 0, 2])
    assert compute(h, logits, target) == {"accuracy": 0.5}
    expected = -sum(torch.log_softmax(logits, 1)[i, t] for i, t in enumerate(target)) / 4
    assert float(h.loss(logits, target)) == pytest.approx(float(expected))
    assert (h.primary, h.higher_is_better) == ("accuracy", True)


def test_binary_auc_and_logloss() -> None:
    h = handler("binary")
    probabilities = torch.tensor([0.1, 0.4, 0.35, 0.8])
    logits = torch.log(probabilities / (1 - probabilities))
    target = torch.tensor([0.0, 0.0, 1.0, 1.0])
    out = compute(h, logits, target)
    # positive/negative pairs ranked right: (0.35>0.1), (0.8>0.1), (0.8>0.4); wrong: (0.35<0.4)
    assert out["auc"] == pytest.approx(0.75)
    logloss = -(math.log(0.9) + math.log(0.6) + math.log(0.35) + math.log(0.8)) / 4
    assert out["logloss"] == pytest.approx(logloss, rel=1e-5)
    assert float(h.loss(logits, target)) == pytest.approx(logloss, rel=1e-5)


def test_regression_mse_mae() -> None:
    h = handler("regression")
    out = compute(h, torch.tensor([1.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0]))
    assert out["mse"] == pytest.approx((0 + 1 + 4) / 3)
    assert out["mae"] == pytest.approx((0 + 1 + 2) / 3)
    assert h.higher_is_better is False


def test_segmentation_miou_pixel_accuracy_ignore_index() -> None:
    h = handler("segmentation", num_classes=3, ignore_index=-1)
    predicted = torch.tensor([[[0, 0], [1, 1]], [[2, 2], [0, 1]]])  # (N=2, H=2, W=2)
    target = torch.tensor([[[0, 1], [1, 1]], [[2, -1], [0, 0]]])
    logits = torch.nn.functional.one_hot(predicted, 3).permute(0, 3, 1, 2).float()
    out = compute(h, logits, target)
    # valid pixels (pred, target): (0,0) (0,1) (1,1) (1,1) (2,2) (0,0) (1,0)
    # class 0: intersection 2, union |pred 0|=3 + |target 0|=3 - 2 = 4 -> 0.5
    # class 1: intersection 2, union 3 + 3 - 2 = 4 -> 0.5 ; class 2: 1 / 1 -> 1.0
    assert out["miou"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert out["pixel_acc"] == pytest.approx(5 / 7)
    loss = h.loss(logits, target)
    assert torch.isfinite(loss)


def test_depth_errors_on_valid_pixels_only() -> None:
    h = handler("depth")
    prediction = torch.tensor([[[[2.0, 5.0], [1.0, 9.0]]]])
    target = torch.tensor([[[[1.0, 4.0], [2.0, 0.0]]]])  # last pixel invalid
    out = compute(h, prediction, target)
    assert out["abs_err"] == pytest.approx((1 + 1 + 1) / 3)
    assert out["rel_err"] == pytest.approx((1 / 1 + 1 / 4 + 1 / 2) / 3)
    assert float(h.loss(prediction, target)) == pytest.approx(1.0)


def test_normal_angle_errors() -> None:
    h = handler("normal", dims=3)
    target = torch.zeros(1, 3, 1, 5)
    target[0, 2] = 1.0  # all pointing +z ...
    target[0, :, 0, 4] = 0.0  # ... except an invalid pixel
    prediction = torch.zeros(1, 3, 1, 5)
    angles = [0.0, 10.0, 20.0, 60.0]
    for i, angle in enumerate(angles):
        prediction[0, 0, 0, i] = math.sin(math.radians(angle)) * 2.0  # length does not matter
        prediction[0, 2, 0, i] = math.cos(math.radians(angle)) * 2.0
    prediction[0, 0, 0, 4] = 1.0
    out = compute(h, prediction, target)
    assert out["mean_angle"] == pytest.approx(sum(angles) / 4, abs=1e-3)
    assert out["median_angle"] == pytest.approx(10.0, abs=1e-3)  # torch's lower median
    assert out["within_11.25"] == pytest.approx(0.5)
    assert out["within_22.5"] == pytest.approx(0.75)
    assert out["within_30"] == pytest.approx(0.75)


def test_delta_mtl_by_hand() -> None:
    primary = {"acc": 0.9, "err": 0.9}
    single = {"acc": 0.8, "err": 1.0}
    directions = {"acc": True, "err": False}
    # acc: +(0.9-0.8)/0.8 = +12.5 %; err (lower is better): -(0.9-1.0)/1.0 = +10 %
    assert delta_mtl(primary, single, directions) == pytest.approx(11.25)
    assert delta_mtl(single, single, directions) == 0.0
    with pytest.raises(ValueError, match="no single-task reference"):
        delta_mtl({"other": 1.0}, single, directions)


@pytest.mark.parametrize(
    ("kind", "kw", "shape", "expected"),
    [
        ("classification", {"num_classes": 4}, (8,), (2, 4)),
        ("binary", {}, (8,), (2,)),
        ("classification", {"num_classes": 4}, (8, 5, 5), (2, 4)),
        ("segmentation", {"num_classes": 3}, (8, 5, 5), (2, 3, 10, 10)),
        ("depth", {}, (8, 5, 5), (2, 1, 10, 10)),
    ],
)
def test_heads_match_the_feature_shape(kind, kw, shape, expected) -> None:
    h = handler(kind, **kw)
    head = make_head(h.spec, h.out_channels(), shape, input_size=(10, 10), tower=Tower((6,)))
    assert head(torch.randn(2, *shape)).shape == expected


@pytest.mark.parametrize(
    ("kind", "kw", "prediction", "target"),
    [
        ("binary", {}, torch.randn(50, 1), torch.randint(0, 2, (50,)).float()),
        ("classification", {"num_classes": 4}, torch.randn(50, 4), torch.randint(0, 4, (50,))),
        ("regression", {"dims": 2}, torch.randn(50, 2), torch.randn(50, 2)),
        (
            "segmentation",
            {"num_classes": 3},
            torch.randn(2, 3, 4, 4),
            torch.randint(0, 3, (2, 4, 4)),
        ),
    ],
)
def test_batch_primary_equals_the_accumulated_primary(kind, kw, prediction, target) -> None:
    """The direct computation that scores routes gives what the metric reports."""
    h = handler(kind, **kw)
    expected = compute(h, prediction, target)[h.primary]
    assert h.batch_primary(prediction, target) == pytest.approx(expected, abs=1e-6)
