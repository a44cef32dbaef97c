"""The routing strategies: REINFORCE on a toy reward, Gumbel, resume, the search run and CLI."""

import json
from pathlib import Path

import pytest
import torch

from sharenas.config import build_config
from sharenas.runs.oneshot import run_oneshot_search
from sharenas.search.reinforce import ReinforceConfig, ReinforceStep
from sharenas.spaces.routing import Route


def routing_config(strategy: str = "reinforce", epochs: int = 2, **search):
    return build_config(
        {
            "data": {
                "name": "synthetic-mmoe",
                "train_size": 300,
                "val_size": 100,
                "test_size": 100,
            },
            "model": {"backbone": {"name": "mlp", "widths": [8, 6]}, "tower": [4]},
            "train": {"epochs": epochs, "batch_size": 50},
            "search": {
                "space": "routing",
                "strategy": strategy,
                "routing": {"experts": 3, "max_fan_in": 2},
                **search,
            },
        }
    )


def run_routing_search(config, out: Path, **options) -> dict:  # type: ignore[no-untyped-def]
    record, _ = run_oneshot_search(config, out, progress=False, **options)
    return record


def history(folder: Path) -> list[dict]:
    lines = (folder / "supernet" / "history.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def attached_search(tmp_path: Path, step=ReinforceStep, **settings) -> ReinforceStep:  # type: ignore[no-untyped-def]
    from sharenas.data import create_dataset
    from sharenas.engine.trainer import Trainer
    from sharenas.runs.training import task_handlers
    from sharenas.spaces.routing import routing_space

    config = routing_config()
    data = create_dataset(config.data).load()
    handlers = task_handlers(data)
    space = routing_space(handlers, data.input_spec, config.model, config.search.routing)
    search = step(space, ReinforceConfig(**settings))
    Trainer(space.supernet(), handlers, data, config.train, tmp_path, step=search, progress=False)
    return search


class ToyReward(ReinforceStep):
    """A reward with a known optimum: 1 when task a's tower reads exactly sub-network 2 and
    gates on the input of sub-network 1, else 0."""

    def rewards(self, genotypes, rows) -> list[float]:  # type: ignore[no-untyped-def]
        return [float(g.tower("task1") == Route((2,), 1)) for g in genotypes]


@pytest.mark.parametrize(
    "settings",
    [
        {"policy_lr": 0.1, "samples": 4, "baseline_decay": 0.8},
        {"policy_lr": 0.1, "samples": 4, "baseline": "leave-one-out"},
    ],
    ids=["moving-average", "leave-one-out"],
)
def test_policy_gradient_finds_the_toy_optimum(tmp_path: Path, settings: dict) -> None:
    search = attached_search(tmp_path, ToyReward, **settings)
    generator = torch.Generator().manual_seed(0)
    for step in range(300):
        search.architecture_step(step, generator)
    assert search.derive().tower("task1") == Route((2,), 1)
    route, query = (p.detach() for p in search.policy.probabilities()[-4:-2])
    assert float(route[2]) > 0.8 and float(query[2]) > 0.8  # options: input, 0, 1, 2


def test_routes_scored_together_equal_routes_scored_alone(tmp_path: Path) -> None:
    search = attached_search(tmp_path)
    net, generator = search.supernet.eval(), torch.Generator().manual_seed(3)
    genotypes = [search.space.sample(generator) for _ in range(6)]
    genotypes += [search.space.mmoe(), search.space.hard_sharing(), search.space.mmoe()]
    x, _ = search.trainer.data.val.batch(torch.arange(40))
    together = net.forward_routes(x, genotypes)
    for genotype, predictions in zip(genotypes, together, strict=True):
        net.genotype = genotype
        alone = net(x)
        for task in alone:
            assert torch.equal(predictions[task], alone[task])


def test_uniform_weight_routes_ignore_a_committed_policy(tmp_path: Path) -> None:
    def weight_routes(mode: str) -> set[str]:
        search = attached_search(tmp_path / mode, weight_routes=mode)
        with torch.no_grad():
            for logit in search.policy.logits:
                logit[0] = 50.0  # the policy has committed to option 0 everywhere
        generator, seen = torch.Generator().manual_seed(0), set()
        for step in range(20):
            search.prepare_weight_step(step, generator)
            seen.add(json.dumps(search.supernet.genotype.to_dict(), sort_keys=True))
        return seen

    assert len(weight_routes("policy")) == 1
    assert len(weight_routes("uniform")) > 10


def test_entropy_bonus_anneals_from_its_start(tmp_path: Path) -> None:
    search = attached_search(tmp_path, entropy_bonus=0.001, entropy_start=0.1)
    total = search.trainer.total_steps
    assert search.entropy_weight(0) == pytest.approx(0.1)
    assert search.entropy_weight(total // 2) == pytest.approx(0.0505, abs=0.1 / total)
    assert search.entropy_weight(total) == pytest.approx(0.001)
    assert attached_search(tmp_path / "c", entropy_bonus=0.01).entropy_weight(5) == 0.01


def test_leave_one_out_needs_several_samples() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs samples ≥ 2"):
        ReinforceConfig(baseline="leave-one-out", samples=1)


@pytest.mark.parametrize("strategy", ["reinforce", "gumbel"])
def test_search_run_writes_arch_and_metrics(tmp_path: Path, strategy: str) -> None:
    record = run_routing_search(routing_config(strategy), tmp_path / "s")
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert arch["space"] == "routing" and arch["strategy"] == strategy
    assert set(arch["towers"]) == {"task1", "task2"} and len(arch["layers"]) == 1
    for choice in arch["choices"].values():
        assert sum(choice["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert record["derive"] == "best"  # retrained, the better of it and the inherited kept
    chosen = record["retrained"]
    inherited, retrained = chosen["validation"]["inherited"], chosen["validation"]["retrained"]
    inherited_worse = sum((inherited[t] - retrained[t]) / abs(retrained[t]) for t in inherited) > 0
    # both tasks are regression (lower is better): higher errors make the inherited worse
    assert chosen["kept"] == ("retrained" if inherited_worse else "inherited")
    kept = record["inherited_primary"] if chosen["kept"] == "inherited" else chosen["primary"]
    assert record["primary"] == kept
    assert record["inherited_primary"].keys() == record["primary"].keys()
    assert record["flops_per_example"] > 0 and record["params"] < record["supernet_params"]
    rows = history(tmp_path / "s")
    assert len(rows) == 2 and rows[-1]["most_probable"] == record["route"]
    if strategy == "reinforce":
        assert "reward" in rows[-1] and rows[-1]["architecture_steps"] == 6


def test_search_resumes_mid_search_exactly(tmp_path: Path) -> None:
    whole = run_routing_search(routing_config(epochs=3, derive="none"), tmp_path / "whole")
    cut = routing_config(epochs=3, derive="none").model_copy(deep=True)
    first = cut.model_copy(update={"train": cut.train.model_copy(update={"epochs": 1})})
    run_routing_search(first, tmp_path / "cut")
    resumed = run_routing_search(cut, tmp_path / "cut", resume=True)
    assert resumed["route"] == whole["route"]
    assert resumed["primary"] == whole["primary"]
    rows = [history(tmp_path / d) for d in ("whole", "cut")]
    assert [r["reward"] for r in rows[0]] == [r["reward"] for r in rows[1]]


def routing_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 300, val_size: 60, test_size: 60, dim: 8}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}, experts: 2}\n"
        "train: {epochs: 2, batch_size: 50}\n"
        "search:\n  space: routing\n  routing: {experts: 2}\n"
        "  baselines: [single-task, mmoe]\n"
    )
    return path


def test_search_command_on_routing(tmp_path: Path, cli) -> None:
    path = routing_yaml(tmp_path)
    out = tmp_path / "out"
    result = cli("search", str(path), "--out", str(out), "--smoke", env={"COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    for name in ("routes.png", "search.png", "report.md", "search/arch.json", "search/retrain"):
        assert (out / name).exists(), name
    assert "routing (searched)" in (out / "report.md").read_text()
    assert "route (reinforce):" in result.stdout and "retrained:" in result.stdout
    trained = cli(
        "train",
        str(path),
        "--arch",
        str(out / "search" / "arch.json"),
        "--smoke",
        "--out",
        str(tmp_path / "t"),
        "--quiet",
    )
    assert trained.returncode == 0, trained.stderr


def test_routing_errors_from_the_cli(tmp_path: Path, cli) -> None:
    """Fan-in over K, a strategy of another space, a tower without input, another space's
    genotype: each a clear error with exit status 2."""
    from sharenas.config import load_config

    path = routing_yaml(tmp_path)
    run_routing_search(load_config(path, ["search.derive=none"]), tmp_path / "s")
    fan_in = cli("search", str(path), "--set", "search.routing.max_fan_in=3")
    assert fan_in.returncode == 2 and "max_fan_in=3 is larger than experts=2" in fan_in.stderr
    strategy = cli("search", str(path), "--set", "search.strategy=gradient")
    assert strategy.returncode == 2 and "does not search the routing space" in strategy.stderr
    arch = json.loads((tmp_path / "s" / "arch.json").read_text())
    arch["towers"]["task1"] = "@input"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(arch))
    result = cli("train", str(path), "--arch", str(broken), "--smoke", "--out", str(tmp_path / "b"))
    assert result.returncode == 2 and "reads no sub-network" in result.stderr
    arch["space"] = "fusion"
    broken.write_text(json.dumps(arch))
    result = cli("train", str(path), "--arch", str(broken), "--smoke", "--out", str(tmp_path / "c"))
    assert result.returncode == 2 and "so it belongs to another space" in (
        " ".join(result.stderr.split())
    )


def test_the_reward_puts_every_task_on_one_scale(tmp_path: Path) -> None:
    """A task measured in another unit (its metric × 1000, as an MSE in its own unit beside
    AUCs) leaves every route's reward unchanged: the reward averages relative changes against
    each task's reference, not raw metrics (which let the largest-scale task decide alone)."""
    torch.manual_seed(0)
    plain = attached_search(tmp_path / "a", samples=4)
    torch.manual_seed(0)
    scaled = attached_search(tmp_path / "b", samples=4)
    loud = scaled.trainer.handlers[1]
    unit = type(loud).batch_primary
    loud.batch_primary = lambda p, t: 1000.0 * unit(loud, p, t)  # type: ignore[method-assign]
    generator = torch.Generator().manual_seed(1)
    rows = plain.val_rows(generator)
    for _ in range(3):
        genotypes = [plain.space.sample(generator) for _ in range(4)]
        expected, got = plain.rewards(genotypes, rows), scaled.rewards(genotypes, rows)
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert len(set(expected)) > 1  # the routes are told apart


def test_es_scores_tasks_relative_to_their_reference() -> None:
    from sharenas.search.partition_study import scalar_score

    directions = ["maximize", "minimize"]
    base = scalar_score([0.8, 500.0, 10.0], directions, 0.1, 20.0, [0.7, 540.0])
    scaled = scalar_score([0.8, 5e5, 10.0], directions, 0.1, 20.0, [0.7, 5.4e5])
    assert base == pytest.approx(scaled)
    assert base == pytest.approx(((0.8 - 0.7) / 0.7 + 40.0 / 540.0) / 2 - 0.1 * 0.5)
