"""The random-architecture baseline: uniform draws from each space, trained with the baselines'
budget, and listed in the search report beside the searched model."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import sharenas
from sharenas.config import build_config
from sharenas.data import create_dataset
from sharenas.runs.random_archs import random_genotypes

DATA = {"name": "synthetic-mmoe", "train_size": 256, "val_size": 64, "test_size": 64, "dim": 8}
MODEL = {"backbone": {"name": "mlp", "widths": [8, 8]}}


def draws(space: str, count: int, **search):
    config = build_config(
        {
            "data": DATA,
            "model": MODEL,
            "search": {"space": space, "random_architectures": count, **search},
        }
    )
    return config, random_genotypes(config, create_dataset(config.data).load())


def test_fusion_draws_cover_every_gate_set_uniformly() -> None:
    _, genotypes = draws("fusion", 3000)
    sets = Counter(tuple(g.to_dict()["edges"]) for g in genotypes)
    assert len(sets) == 2**6  # 6 candidate edges: every subset drawn
    assert max(sets.values()) < 2.0 * 3000 / 64 and min(sets.values()) > 0.4 * 3000 / 64
    edges = Counter(e for g in genotypes for e in g.to_dict()["edges"])
    assert all(abs(n / 3000 - 0.5) < 0.04 for n in edges.values())


def test_routing_draws_every_option_of_every_choice_uniformly() -> None:
    from sharenas.runs.training import task_handlers
    from sharenas.spaces.registry import create_space

    config, genotypes = draws("routing", 3000, routing={"experts": 2})
    data = create_dataset(config.data).load()
    assert config.search is not None
    space = create_space(
        "routing", task_handlers(data), data.input_spec, config.model, config.search.routing
    )
    choices = space.choices()
    picked = [space.indices_of(g) for g in genotypes]
    for c, choice in enumerate(choices):
        counts = Counter(p[c] for p in picked)
        assert len(counts) == len(choice.options), choice.key
        expected = 3000 / len(choice.options)
        assert all(abs(n - expected) < 0.15 * expected for n in counts.values()), choice.key


def test_partition_draws_are_valid_and_seeded() -> None:
    _, first = draws("partition", 20)
    _, again = draws("partition", 20)
    assert [g.to_dict() for g in first] == [g.to_dict() for g in again]
    assert len({json.dumps(g.to_dict(), sort_keys=True) for g in first}) > 10


@pytest.mark.parametrize("space", ["fusion", "routing"])
def test_the_report_lists_the_random_architectures(tmp_path: Path, space: str, cli) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {json.dumps(DATA)}\nmodel: {json.dumps(MODEL)}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
        f"search: {{space: {space}, baselines: [single-task, random], random_architectures: 2}}\n"
    )
    out = tmp_path / "out"
    result = cli("search", str(config), "--out", str(out), "-q", "--format", "md")
    assert result.returncode == 0, result.stderr
    for k in (0, 1):
        arch = json.loads((out / f"baselines/random/{k}/arch.json").read_text())
        assert arch["strategy"] == "random" and arch["space"] == space
    report = (out / "report.md").read_text()
    assert "random × 2" in report and "mean ± std" in report and "random best on val" in report
    assert f"{space} (random)" in result.stdout
    found = sharenas.search(config, out, resume=True, progress=False)  # finished runs are kept
    assert sum(row[0].startswith("random/") for row in found.table.rows) == 2


@pytest.mark.parametrize("space", ["fusion", "routing"])
def test_random_search_delivers_the_best_candidate_on_validation(tmp_path: Path, space: str, cli):
    from sharenas.runs.training import evaluate_run

    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {json.dumps(DATA)}\nmodel: {json.dumps(MODEL)}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
        f"search: {{space: {space}, strategy: random, random_architectures: 3}}\n"
    )
    out = tmp_path / "out"
    result = cli("search", str(config), "--out", str(out), "--no-baselines", "-q")
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "search/metrics.json").read_text())
    assert record["arch"] == f"{space} (random search)" and len(record["candidates"]) == 3
    best = max(record["candidates"], key=lambda c: c["val_score"])
    assert record["chosen"] == best["run"]
    chosen = json.loads((out / "search" / record["chosen"] / "metrics.json").read_text())
    assert record["tasks"] == chosen["tasks"] == evaluate_run(out / "search", "test")
    arch = json.loads((out / "search/arch.json").read_text())
    assert arch["strategy"] == "random" and arch["space"] == space
    again = cli("search", str(config), "--out", str(out), "--no-baselines", "-q", "--resume")
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "search/metrics.json").read_text())["tasks"] == record["tasks"]
