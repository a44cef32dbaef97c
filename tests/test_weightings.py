"""Loss weightings: each method's update on small hand-computed cases, fp16 gradient scaling,
batches of one task, training and searches through the trainer, exact resume, clear errors, and
two DDP processes against one."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sharenas.config import build_config
from sharenas.engine.step import StepInfo
from sharenas.errors import ConfigError
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.runs.training import train
from sharenas.weightings import create_weighting, weighting_names
from sharenas.weightings.cagrad import cagrad_direction
from sharenas.weightings.mgda import min_norm_weights
from sharenas.weightings.nash_mtl import bargaining_weights
from tests.conftest import tiny_image_task_set

GRADIENT_METHODS = ["pcgrad", "mgda", "cagrad", "nash_mtl", "gradnorm"]
ALL = ["equal", "fixed", "uncertainty", "dwa", *GRADIENT_METHODS]
NO_SCALER = torch.amp.GradScaler("cpu", enabled=False)


class Toy:
    """A shared parameter s ∈ R² and one scalar head per task, with linear losses
    L_t = g_t · (d ⊙ s) + h_t · head_t + c_t, so ∇_s L_t = d ⊙ g_t, ∇_{head_t} L_t = h_t, and the
    representation z = d ⊙ s (what every head reads) has ∇_z L_t = g_t."""

    def __init__(self, grads: list[tuple[float, ...]], scale: tuple[float, ...] = (1.0, 1.0)):
        self.g = [torch.tensor(g) for g in grads]
        self.d = torch.tensor(scale)
        self.shared = torch.nn.Parameter(torch.zeros(len(self.d)))
        self.heads = [torch.nn.Parameter(torch.zeros(())) for _ in grads]
        self.head_grads = [2.0, -3.0, 0.5][: len(grads)]
        self.constants = [1.0, 2.0, 4.0][: len(grads)]
        self.tasks = ["a", "b", "c"][: len(grads)]

    def params(self) -> list[torch.nn.Parameter]:
        return [self.shared, *self.heads]

    def losses(self, tasks: list[str] | None = None) -> tuple[dict, dict]:
        z = self.d * self.shared
        losses, features = {}, {}
        for i, task in enumerate(self.tasks):
            if tasks is None or task in tasks:
                h = self.head_grads[i] * self.heads[i]
                losses[task] = self.g[i] @ z + h + self.constants[i]
                features[task] = z
        return losses, features

    def step(self, weighting, tasks=None, scaler=NO_SCALER, features: bool = False):
        for p in self.params():
            p.grad = None
        losses, z = self.losses(tasks)
        weighting.backward(losses, self.params(), scaler, z if features else None)
        heads = [None if h.grad is None else float(h.grad) for h in self.heads]
        return self.shared.grad.clone(), heads


def make(name: str, tasks=("a", "b"), **options):
    return create_weighting(name, list(tasks), {"a": 2.0}, options)


# --- hand-computed updates ---------------------------------------------------------------------
def test_pcgrad_projects_only_conflicting_gradients() -> None:
    toy = Toy([(1.0, 0.0), (-1.0, 1.0)])  # g1 · g2 = −1 < 0
    shared, heads = toy.step(make("pcgrad"))
    # g1 − (−1/2) g2 = (0.5, 0.5); g2 − (−1/1) g1 = (0, 1); summed
    assert shared.tolist() == pytest.approx([0.5, 1.5])
    assert heads == pytest.approx([2.0, -3.0])  # each head its own gradient
    agreeing = Toy([(1.0, 0.0), (1.0, 1.0)])
    assert agreeing.step(make("pcgrad"))[0].tolist() == pytest.approx([2.0, 1.0])


def test_mgda_two_task_closed_form_on_the_shared_parameters() -> None:
    # γ = (g2 − g1)·g2 / ‖g1 − g2‖² = ((−1, 2)·(0, 2)) / 5 = 0.8 on g1
    toy = Toy([(1.0, 0.0), (0.0, 2.0)])
    weighting = make("mgda", normalization="none")
    shared, heads = toy.step(weighting)
    assert shared.tolist() == pytest.approx([0.8, 0.4])
    assert heads == pytest.approx([0.8 * 2.0, 0.2 * -3.0])  # heads weighted by α
    assert weighting.weights() == pytest.approx({"a": 0.8, "b": 0.2})


def test_mgda_ub_takes_the_gradients_at_the_shared_representation() -> None:
    """z = (1, 3) ⊙ s: at z the gradients are (1, 0), (0, 2), so α = (0.8, 0.2); on s they would
    be (1, 0), (0, 6), giving α_1 = 36/37."""
    toy = Toy([(1.0, 0.0), (0.0, 2.0)], scale=(1.0, 3.0))
    shared, _ = toy.step(make("mgda", normalization="none"), features=True)
    assert shared.tolist() == pytest.approx([0.8, 0.2 * 6.0])
    plain, _ = toy.step(make("mgda", normalization="none"), features=False)
    assert plain.tolist() == pytest.approx([36 / 37, 1 / 37 * 6.0])


def test_mgda_normalizations_and_three_tasks() -> None:
    toy = Toy([(1.0, 0.0), (0.0, 2.0)])
    l2 = make("mgda", normalization="l2")
    toy.step(l2)  # unit gradients (1, 0), (0, 1): the symmetric point
    assert l2.weights() == pytest.approx({"a": 0.5, "b": 0.5})
    loss = make("mgda", normalization="loss")
    toy.step(loss)  # divided by the losses 1 and 2: (1, 0), (0, 1) again
    assert loss.weights() == pytest.approx({"a": 0.5, "b": 0.5})
    # three orthogonal gradients of norms 1, 2, 3: α ∝ 1/‖g‖²
    gram = torch.diag(torch.tensor([1.0, 4.0, 9.0]))
    expected = torch.tensor([1, 1 / 4, 1 / 9]) / (1 + 1 / 4 + 1 / 9)
    assert min_norm_weights(gram).tolist() == pytest.approx(expected.tolist(), abs=1e-6)


def test_cagrad_symmetric_case_by_hand() -> None:
    # g1 ⟂ g2, unit: w = (½, ½), g_w = g0 = (½, ½), λ = c‖g0‖/‖g_w‖ = c, d = (1 + c) g0,
    # returned × 2 tasks / (1 + c²)
    toy = Toy([(1.0, 0.0), (0.0, 1.0)])
    shared, heads = toy.step(make("cagrad", c=0.4))
    assert shared.tolist() == pytest.approx([2 * 1.4 * 0.5 / 1.16] * 2, abs=1e-6)
    assert heads == pytest.approx([2.0, -3.0])


def test_cagrad_direction_maximises_the_worst_improvement_in_its_ball() -> None:
    """CAGrad's primal (Eq. 2): d maximises min_i g_i · d over ‖d − g0‖ ≤ c‖g0‖. Checked against
    a search over the ball's boundary (where the maximum of a concave min of linear functions
    with g0 inside the cone lies)."""
    grads = torch.tensor([[1.0, 0.2], [-0.6, 1.0]], dtype=torch.float64)
    c = 0.5
    d = cagrad_direction(grads, c) * (1 + c**2) / 2
    g0 = grads.mean(0)
    radius = c * float(g0.norm())
    angles = torch.linspace(0, 2 * math.pi, 200_001, dtype=torch.float64)
    ring = g0 + radius * torch.stack([angles.cos(), angles.sin()], 1)
    best = (ring @ grads.T).min(1).values.max()
    assert float((grads @ d).min()) == pytest.approx(float(best), abs=1e-6)
    assert float((d - g0).norm()) == pytest.approx(radius, abs=1e-6)


def test_nash_mtl_solves_the_bargaining_equation() -> None:
    # orthogonal gradients of norms 1 and 2: α_i = 1/‖g_i‖² · ‖g_i‖ = (1, 0.5); Σ α g = (1, 1)
    toy = Toy([(1.0, 0.0), (0.0, 2.0)])
    weighting = make("nash_mtl", max_norm=0.0)
    shared, heads = toy.step(weighting)
    assert shared.tolist() == pytest.approx([1.0, 1.0], abs=1e-6)
    assert heads == pytest.approx([1.0 * 2.0, 0.5 * -3.0], abs=1e-6)
    clipped, _ = toy.step(make("nash_mtl", max_norm=1.0))  # ‖(1, 1)‖ = √2 clipped to 1
    assert clipped.tolist() == pytest.approx([1 / math.sqrt(2)] * 2, abs=1e-5)
    gram = torch.tensor([[1.0, 0.7, 0.1], [0.7, 2.0, -0.3], [0.1, -0.3, 0.5]], dtype=torch.float64)
    alpha = bargaining_weights(gram, torch.ones(3))
    assert (alpha > 0).all()
    assert (gram @ alpha).tolist() == pytest.approx((1 / alpha).tolist(), rel=1e-6)


def test_nash_mtl_keeps_the_last_weights_between_solves() -> None:
    toy = Toy([(1.0, 0.0), (0.0, 2.0)])
    weighting = make("nash_mtl", max_norm=0.0, update_weights_every=2)
    toy.step(weighting)
    toy.g = [torch.tensor([3.0, 0.0]), torch.tensor([0.0, 1.0])]
    shared, heads = toy.step(weighting)  # α still (1, 0.5): Σ α g = (3, 0.5)
    assert shared.tolist() == pytest.approx([3.0, 0.5], abs=1e-6)
    assert heads == pytest.approx([2.0, -1.5], abs=1e-6)
    toy.step(weighting)  # a solve: α = (1/3, 1)
    assert weighting.weights() == pytest.approx({"a": 1 / 3, "b": 1.0}, abs=1e-6)


def test_dwa_weights_from_the_last_two_epochs() -> None:
    weighting = make("dwa")
    weighting.epoch_end({"a": 1.0, "b": 1.0})
    assert weighting.weights() == {"a": 1.0, "b": 1.0}  # the first two epochs: 1
    weighting.epoch_end({"a": 0.5, "b": 0.8})  # ratios 0.5 and 0.8, T = 2
    ea, eb = math.exp(0.5 / 2), math.exp(0.8 / 2)
    expected = {"a": 2 * ea / (ea + eb), "b": 2 * eb / (ea + eb)}
    assert weighting.weights() == pytest.approx(expected)
    losses = {"a": torch.tensor(3.0), "b": torch.tensor(5.0)}
    assert float(weighting(losses)) == pytest.approx(3 * expected["a"] + 5 * expected["b"])
    weighting.epoch_end({"a": 0.25})  # b had no batch: its ratio is 1
    ea, eb = math.exp(0.5 / 2), math.exp(1.0 / 2)
    assert weighting.weights()["a"] == pytest.approx(2 * ea / (ea + eb))


def test_gradnorm_weight_gradient_and_renormalisation() -> None:
    """G = w ⊙ ‖g‖ = (1, 1.2), Ḡ = 1.1. First step: r = 1, targets 1.1: ∂/∂w = sign(G − 1.1) ‖g‖
    = (−1, +1.2). Then L_a halves (L̃ = (0.5, 1), r = (2/3, 4/3), α = 1.5): targets
    1.1 · r^1.5 = (0.599, 1.694), so the signs flip: (+1, −1.2)."""
    toy = Toy([(1.0, 0.0), (0.0, 1.2)])
    weighting = make("gradnorm")
    shared, heads = toy.step(weighting)
    assert weighting.loss_weights.grad.tolist() == pytest.approx([-1.0, 1.2])
    assert shared.tolist() == pytest.approx([1.0, 1.2])  # Σ w g with w = 1
    assert heads == pytest.approx([2.0, -3.0])
    toy.constants[0] = 0.5
    toy.step(weighting)
    assert weighting.loss_weights.grad.tolist() == pytest.approx([1.0, -1.2])
    with torch.no_grad():
        weighting.loss_weights.copy_(torch.tensor([3.0, 1.0]))
    assert weighting.weights() == pytest.approx({"a": 1.5, "b": 0.5})
    _, heads = toy.step(weighting)
    assert heads == pytest.approx([1.5 * 2.0, 0.5 * -3.0])


# --- every method: scaling, one task, errors ---------------------------------------------------
@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_fp16_scaled_gradients_are_unscaled_before_combining(name: str) -> None:
    """With a GradScaler at 2^10 the written gradients are exactly 2^10 times the unscaled
    ones, so the scaler's step unscales them and checks them for overflow as usual."""
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    plain, plain_heads = Toy([(1.0, 0.5), (-0.7, 1.0)]).step(make(name))
    scaled, scaled_heads = Toy([(1.0, 0.5), (-0.7, 1.0)]).step(make(name), scaler=scaler)
    assert (scaled / 1024).tolist() == pytest.approx(plain.tolist(), rel=1e-5)
    assert [h / 1024 for h in scaled_heads] == pytest.approx(plain_heads, rel=1e-5)


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_an_fp16_overflow_is_skipped_by_the_scaler(name: str) -> None:
    """An infinite task gradient is not combined: the written gradient stays non-finite, so the
    GradScaler skips the step and lowers its scale, as with a plain backward."""
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    toy = Toy([(math.inf, 0.5), (-0.7, 1.0)])
    optimizer = torch.optim.SGD(toy.params(), lr=0.1)
    toy.step(make(name), scaler=scaler)
    scaler.step(optimizer)
    scaler.update()
    assert toy.shared.tolist() == [0.0, 0.0] and scaler.get_scale() == 512.0


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_a_batch_of_one_task_takes_its_plain_gradient(name: str) -> None:
    toy = Toy([(1.0, 0.5), (-0.7, 1.0)])
    shared, heads = toy.step(make(name), tasks=["b"], features=True)
    assert shared.tolist() == pytest.approx([-0.7, 1.0])
    assert heads == [None, pytest.approx(-3.0)]


@pytest.mark.parametrize("name", ["equal", "fixed", "uncertainty", "dwa"])
def test_loss_weightings_take_the_present_tasks(name: str) -> None:
    toy = Toy([(1.0, 0.5), (-0.7, 1.0)])
    weighting = make(name)
    shared, heads = toy.step(weighting, tasks=["a"])
    w = weighting.weights()["a"]
    assert shared.tolist() == pytest.approx([w * 1.0, w * 0.5])
    assert heads == [pytest.approx(w * 2.0), None]


def test_unknown_weighting_and_option_are_clear_errors() -> None:
    def config(**train: object):
        return build_config(
            {"data": {"name": "synthetic-mmoe"}, "model": {"arch": "hard-sharing"}, "train": train}
        )

    with pytest.raises(ConfigError, match=r"train\.weighting: .*'pcgradd'.*Did you mean 'pcgrad'"):
        config(weighting="pcgradd")
    with pytest.raises(ConfigError, match=r"train\.weighting_options\.temp: unknown key"):
        config(weighting="dwa", weighting_options={"temp": 1.0})
    with pytest.raises(ConfigError, match=r"train\.weighting_options\.c: given -1"):
        config(weighting="cagrad", weighting_options={"c": -1})
    with pytest.raises(ConfigError, match=r"train\.weighting_options\.alpha: .*takes no options"):
        config(weighting="equal", weighting_options={"alpha": 1.5})
    assert config(weighting="dwa").train.weighting_options == {}  # defaults: made, not recorded
    assert set(ALL) <= set(weighting_names())


# --- through the trainer -----------------------------------------------------------------------
def tiny_config(weighting: str, epochs: int = 3, **train: object):
    return build_config(
        {
            "data": {
                "name": "synthetic-mmoe",
                "train_size": 256,
                "val_size": 64,
                "test_size": 64,
                "dim": 8,
            },
            "model": {"arch": "hard-sharing", "backbone": {"name": "mlp", "widths": [16, 8]}},
            "train": {"epochs": epochs, "batch_size": 32, "weighting": weighting, **train},
        }
    )


def rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["dwa", "gradnorm", "nash_mtl"])
def test_resume_restores_the_weighting_state_exactly(tmp_path: Path, name: str) -> None:
    options = {"update_weights_every": 3} if name == "nash_mtl" else {}
    config = tiny_config(name, weighting_options=options)
    full = train(config, tmp_path / "full", progress=False)

    def crash(info: StepInfo, values: dict) -> None:
        if info.epoch == 2 and info.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "cut", progress=False, callbacks=[crash])
    resumed = train(config, tmp_path / "cut", progress=False, resume=True)
    assert resumed["tasks"] == full["tasks"]
    weights = [row["loss_weights"] for row in rows(tmp_path / "full")]
    assert weights == [row["loss_weights"] for row in rows(tmp_path / "cut")]
    assert weights[-1] != {"task1": 1.0, "task2": 1.0}  # the weighting did move


@pytest.mark.parametrize("name", ALL)
def test_every_weighting_trains_and_drives_both_searches(tmp_path: Path, name: str) -> None:
    record = train(tiny_config(name, epochs=1), tmp_path / "train", progress=False)
    assert all(math.isfinite(v) for v in record["primary"].values())
    fusion = build_config(
        {
            "data": {"name": "synthetic-mmoe"},  # replaced by the generated image task set
            "model": {"backbone": {"name": "cnn", "channels": [4, 8]}},
            "train": {"epochs": 1, "batch_size": 10, "lr": 0.01, "weighting": name},
            "search": {"space": "fusion"},
        }
    )
    run_oneshot_search(fusion, tmp_path / "fusion", progress=False, data=tiny_image_task_set())
    routing = build_config(
        {
            "data": {"name": "synthetic-mmoe", "train_size": 200, "val_size": 60},
            "model": {"backbone": {"name": "mlp", "widths": [8, 6]}, "tower": [4]},
            "train": {"epochs": 1, "batch_size": 50, "weighting": name},
            "search": {"space": "routing", "strategy": "gumbel", "routing": {"experts": 2}},
        }
    )
    run_oneshot_search(routing, tmp_path / "routing", progress=False)
    for folder in ("fusion", "routing"):
        (row,) = rows(tmp_path / folder / "supernet")
        losses = [*row["train_loss"].values(), row["weight_loss"]]
        assert losses and all(math.isfinite(v) for v in losses), (folder, row)


def test_same_seed_same_result(tmp_path: Path) -> None:
    a = train(tiny_config("pcgrad", epochs=2), tmp_path / "a", progress=False)
    b = train(tiny_config("pcgrad", epochs=2), tmp_path / "b", progress=False)
    assert a["tasks"] == b["tasks"]


def test_two_processes_match_one(tmp_path: Path, cli) -> None:
    """Under torchrun (2 CPU processes, gloo) the per-task gradients are averaged over the
    processes before they are combined (MGDA: the Gram matrix at the representation summed),
    so the run equals one process on the whole batch within 1e-4 relative; for MGDA and
    Nash-MTL, and for the plain data-parallel case (equal weighting: gradients averaged by DDP),
    whose two-process runs share one torchrun launch (tests/torchrun_commands.py)."""
    names = ("equal", "mgda", "nash_mtl")
    for name in names:
        config = tmp_path / f"{name}.yaml"
        config.write_text(
            "data: {name: synthetic-mmoe, train_size: 256, val_size: 64, test_size: 64, dim: 8}\n"
            "model: {arch: hard-sharing, backbone: {name: mlp, widths: [16, 8]}}\n"
            f"train: {{epochs: 2, batch_size: 32, threads: 1, weighting: {name}}}\n"
        )
        single = cli("train", str(config), "--out", str(tmp_path / name / "a"), "--quiet")
        assert single.returncode == 0, single.stderr
    script = Path(__file__).with_name("torchrun_commands.py")
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    commands = [
        ["train", str(tmp_path / f"{name}.yaml"), "--out", str(tmp_path / name / "b"), "--quiet"]
        for name in names
    ]
    joined = [arg for command in commands for arg in (":::", *command)][1:]
    path = os.pathsep.join([str(script.parent.parent), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [*launcher, "--nproc_per_node", "2", str(script), *joined],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    exits = [line for line in result.stdout.splitlines() if line.startswith("exit ")]
    assert exits == ["exit 0"] * len(names), result.stderr[-3000:]
    for name in names:
        one = json.loads((tmp_path / name / "a" / "metrics.json").read_text())
        two = json.loads((tmp_path / name / "b" / "metrics.json").read_text())
        for task, metrics in one["tasks"].items():
            for metric, value in metrics.items():
                assert two["tasks"][task][metric] == pytest.approx(value, rel=1e-4), (
                    name,
                    task,
                    metric,
                )
        a, b = (
            [w for row in rows(tmp_path / name / n) for w in row["loss_weights"].values()]
            for n in "ab"
        )
        assert len(a) == 4 and a == pytest.approx(b, rel=1e-4), name


def test_the_run_folder_config_records_the_options_given(tmp_path: Path) -> None:
    """Options given are recorded; defaults are not (an option added later must not make old
    run folders look started with another config)."""
    train(tiny_config("cagrad", epochs=1), tmp_path / "r", progress=False)
    text = (tmp_path / "r" / "config.yaml").read_text()
    assert "weighting: cagrad" in text and "c: 0.4" not in text
    config = tiny_config("cagrad", epochs=1, weighting_options={"c": 0.5})
    train(config, tmp_path / "s", progress=False)
    assert "c: 0.5" in (tmp_path / "s" / "config.yaml").read_text()
