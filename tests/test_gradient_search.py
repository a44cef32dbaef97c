import json
import math
from pathlib import Path

import pytest
import torch

from sharenas.config import build_config
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.search.gradient import GradientSearchConfig, gate_entropy, temperature
from sharenas.spaces.fusion import FusionSpaceConfig
from tests.conftest import tiny_image_task_set


def test_gate_entropy_by_hand() -> None:
    p = torch.tensor([0.5, 0.9, 0.0, 1.0])
    h = [math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), 0.0, 0.0]
    assert float(gate_entropy(p)) == pytest.approx(sum(h) / 4, abs=1e-5)


def test_temperature_anneals_quadratically() -> None:
    config = GradientSearchConfig(initial_temperature=2.0, min_temperature=0.01)
    assert temperature(0, 100, config) == 2.0
    assert temperature(50, 100, config) == pytest.approx(2.0 * 0.25)
    assert temperature(100, 100, config) == 0.01


def config(epochs: int = 3):
    return build_config(
        {
            "data": {"name": "synthetic-mmoe"},  # replaced by the generated image task set
            "model": {"backbone": {"name": "cnn", "channels": [4, 8]}},
            "train": {"epochs": epochs, "batch_size": 10, "lr": 0.01},
        }
    )


def run_fusion_search(
    config,
    out: Path,
    space: FusionSpaceConfig | None = None,
    search: GradientSearchConfig | None = None,
    **options,
) -> dict:
    """A fusion search of ``config`` with the given space and strategy settings."""
    raw = config.model_dump(mode="json")
    raw["search"] = {**(raw.get("search") or {}), "space": "fusion"}
    if space is not None:
        raw["search"]["fusion"] = space.model_dump(mode="json")
    if search is not None:
        raw["search"]["gradient"] = search.model_dump(mode="json")
    record, _ = run_oneshot_search(build_config(raw), out, progress=False, **options)
    return record


def history(folder: Path) -> list[dict]:
    lines = (folder / "supernet" / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_search_writes_arch_and_gap(tmp_path: Path) -> None:
    record = run_fusion_search(
        config(),
        tmp_path / "s",
        data=tiny_image_task_set(),
        space=FusionSpaceConfig(own_weight=0.8),
    )
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert arch["space"] == "fusion" and len(arch["candidates"]) == record["candidate_edges"] == 4
    kept = [c["edge"] for c in arch["candidates"] if c["kept"]]
    assert sorted(kept) == arch["edges"]
    assert all((c["probability"] > 0.5) == c["kept"] for c in arch["candidates"])
    for task, gap in record["search_evaluation_gap"].items():
        assert gap == pytest.approx(record["primary"][task] - record["supernet_primary"][task])
    assert record["flops_per_example"] <= record["supernet_flops_per_example"]
    rows = history(tmp_path / "s")
    assert len(rows) == 3 and "probabilities" in rows[0]


def test_entropy_term_drives_gates_to_the_extremes(tmp_path: Path) -> None:
    data = tiny_image_task_set()
    strong = run_fusion_search(
        config(4),
        tmp_path / "a",
        data=data,
        space=FusionSpaceConfig(own_weight=0.8),
        search=GradientSearchConfig(entropy_weight=10.0, arch_lr=0.05),
    )
    none = run_fusion_search(
        config(4),
        tmp_path / "b",
        data=data,
        space=FusionSpaceConfig(own_weight=0.8),
        search=GradientSearchConfig(entropy_weight=0.0, arch_lr=0.05),
    )

    def final_entropy(folder: Path) -> float:
        probabilities = torch.tensor(list(history(folder)[-1]["probabilities"].values()))
        return float(gate_entropy(probabilities))

    assert strong["entropy_weight"] == 10.0 and none["entropy_weight"] == 0.0
    assert final_entropy(tmp_path / "a") < final_entropy(tmp_path / "b")


def test_resume_in_the_middle_of_a_search(tmp_path: Path) -> None:
    data = tiny_image_task_set()
    space = FusionSpaceConfig(own_weight=0.8)
    full = run_fusion_search(config(), tmp_path / "full", data=data, space=space)

    def crash(info, values: dict) -> None:  # type: ignore[no-untyped-def]
        if info.epoch == 1 and info.step == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_fusion_search(config(), tmp_path / "cut", data=data, space=space, callbacks=[crash])
    resumed = run_fusion_search(config(), tmp_path / "cut", data=data, space=space, resume=True)
    assert resumed["tasks"] == full["tasks"]
    assert resumed["supernet_tasks"] == full["supernet_tasks"]
    a = json.loads((tmp_path / "full" / "arch.json").read_text())
    b = json.loads((tmp_path / "cut" / "arch.json").read_text())
    assert a["candidates"] == b["candidates"]


def test_search_uses_the_configs_task_backbones(tmp_path: Path) -> None:
    from sharenas.config import build_config as build

    raw = config(1).model_dump(mode="json")
    raw["model"]["task_backbones"] = {"label": {"name": "resnet", "channels": [4, 8, 8]}}
    raw["search"] = {"fusion": {"connectivity": "all-earlier", "own_weight": 0.8}}
    run_fusion_search(build(raw), tmp_path / "s", data=tiny_image_task_set())
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert arch["stages"] == {"seg": 2, "label": 3}


def test_the_halves_are_drawn_again_every_epoch_as_in_mtl_nas() -> None:
    from sharenas.search.gradient import half_split

    first, second = half_split(40, 0, 0), half_split(40, 0, 1)
    for weight, arch in (first, second):
        assert sorted(torch.cat([weight, arch]).tolist()) == list(range(40))
    assert set(first[0].tolist()) != set(second[0].tolist())
    assert all(torch.equal(a, b) for a, b in zip(half_split(40, 0), half_split(40, 0), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(first, half_split(40, 0, 0), strict=True))


def test_the_entropy_weight_follows_its_period() -> None:
    from sharenas.search.gradient import entropy_weight

    at_once = GradientSearchConfig(entropy_weight=10.0)
    assert entropy_weight(0, 100, at_once) == 0.0 and entropy_weight(1, 100, at_once) == 10.0
    ramp = GradientSearchConfig(entropy_weight=10.0, entropy_period=(0.0, 1.0))
    assert entropy_weight(50, 100, ramp) == pytest.approx(5.0)
    assert entropy_weight(100, 100, ramp) == 10.0


@pytest.mark.parametrize("options", [{"hard_arch_training": True}, {"mixed_data": False}])
def test_the_search_runs_with_each_mtl_nas_option(tmp_path: Path, options: dict) -> None:
    data = tiny_image_task_set()
    search = GradientSearchConfig(**options)
    record = run_fusion_search(config(2), tmp_path / "s", search=search, data=data)
    rows = history(tmp_path / "s")
    assert len(rows) == 2 and all(math.isfinite(r["arch_loss"]) for r in rows)
    assert record["edges_kept"] <= record["candidate_edges"]
    first, last = (rows[i]["probabilities"] for i in (0, -1))
    assert first != last  # the architecture step moved α


def batches_of(weight_steps: str, epoch: int, rows: int = 40) -> list:
    """The (weight, architecture) batch pairs of one search epoch over ``rows`` training rows."""
    from types import SimpleNamespace

    from sharenas.search.gradient import GradientStep

    step = GradientStep(None, GradientSearchConfig(weight_steps=weight_steps))
    step.trainer = SimpleNamespace(
        data=SimpleNamespace(train=range(rows)),
        seed=3,
        config=SimpleNamespace(batch_size=5, max_batches=None),
    )
    return step.batches(epoch)


def test_a_search_epoch_takes_a_training_epochs_weight_steps_as_in_mtl_nas() -> None:
    full, half = batches_of("full", 1), batches_of("half", 1)
    assert len(full) == 40 // 5 and len(half) == 40 // 10  # a training epoch: 8 batches of 5
    first, second = full[:4], full[4:]
    for weight, arch in full:  # each step's two batches come from the two halves of one draw
        assert not set(weight.tolist()) & set(arch.tolist())
    first_rows = {r for w, _ in first for r in w.tolist()}
    second_rows = {r for w, _ in second for r in w.tolist()}
    assert len(first_rows) == len(second_rows) == 20 and first_rows != second_rows
    again = batches_of("full", 1)  # a function of (seed, epoch) only: a resumed search sees it
    assert [[b.tolist() for b in pair] for pair in again] == [
        [b.tolist() for b in pair] for pair in full
    ]
    half_rows = [w.tolist() for w, _ in batches_of("half", 0)]
    assert [w.tolist() for w, _ in batches_of("full", 0)[:4]] == half_rows


def test_a_search_runs_with_the_configs_thread_count(tmp_path: Path) -> None:
    """train.threads reaches the search's loop too, not only `sharenas train` (a search run with
    --set train.threads=1 beside another used every core)."""
    before = torch.get_num_threads()
    raw = config(1).model_dump(mode="json")
    raw["train"]["threads"] = 1
    try:
        torch.set_num_threads(2)
        run_fusion_search(build_config(raw), tmp_path / "s", data=tiny_image_task_set())
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_undecided_gates_are_retrained_not_kept(tmp_path: Path) -> None:
    """MTL-NAS keeps inherited weights because its gates end at 0 or 1; gates left near 0.5
    by a short search would be pruned half-open, so the network is retrained instead."""
    from types import SimpleNamespace

    from sharenas.search.gradient import GradientStep

    def step(*probabilities: float) -> SimpleNamespace:
        gates = torch.tensor(probabilities)
        return SimpleNamespace(supernet=SimpleNamespace(probabilities=lambda: gates))

    assert GradientStep.undecided(step(0.01, 0.99, 0.02)) is None  # type: ignore[arg-type]
    assert "undecided" in GradientStep.undecided(step(0.5, 0.45, 0.6))  # type: ignore[arg-type]
    record = run_fusion_search(config(2), tmp_path / "s", data=tiny_image_task_set())
    assert record["derive"] == "retrain" and "undecided" in record["derive_changed"]
    assert "retrained" in record and (tmp_path / "s" / "retrain").is_dir()
