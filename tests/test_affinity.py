"""Task affinity (TAG's lookahead, Fifty et al. 2021): the matrix of a planted set recovers its
groups, a killed measurement resumes to the uninterrupted matrices, the command writes its
files, and the grouping and its agreement score behave as defined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sharenas.affinity import AffinityStep, adjusted_rand_index, group_tasks
from sharenas.affinity.lookahead import default_every
from sharenas.config import build_config
from sharenas.workflows.affinity import measure_affinity

PLANTED = {
    "data": {
        "name": "synthetic-groups",
        "groups": [3, 2],
        "p_out": -0.5,
        "dim": 12,
        "train_size": 3000,
        "val_size": 300,
        "test_size": 300,
        "sin_terms": 0,
    },
    "model": {"backbone": {"name": "mlp", "widths": [16, 16]}},
    "train": {"epochs": 6, "batch_size": 64, "threads": 1},
}


def test_the_planted_groups_are_recovered(tmp_path: Path) -> None:
    record = measure_affinity(build_config(PLANTED), tmp_path / "a", progress=False)
    assert record["tasks"] == ["g0t0", "g0t1", "g0t2", "g1t0", "g1t1"]
    assert adjusted_rand_index(record["groups"], [0, 0, 0, 1, 1]) == 1.0
    z = record["lookahead"]
    assert all(z[i][i] > 0 for i in range(5))  # a task's own step lowers its loss
    assert z[0][3] < z[0][2] and z[3][0] < z[3][4]  # across groups below inside
    assert set(record["stages"]) == {"blocks.0:0", "blocks.1:0"}
    assert record["measurements"] > 0 and record["every"] == default_every(5)
    assert (tmp_path / "a" / "affinity.png").exists()
    assert json.loads((tmp_path / "a" / "affinity.json").read_text())["groups"] == record["groups"]
    assert json.loads((tmp_path / "a" / "arch.json").read_text())["arch"] == "hard-sharing"


def test_a_killed_measurement_resumes_to_the_same_matrices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = build_config({**PLANTED, "train": {**PLANTED["train"], "epochs": 3}})
    full = measure_affinity(config, tmp_path / "full", progress=False, every=5)
    original = AffinityStep.step

    def killed(self, batch, info):  # type: ignore[no-untyped-def]
        if info.epoch == 1 and info.step == 20:
            raise KeyboardInterrupt
        return original(self, batch, info)

    monkeypatch.setattr(AffinityStep, "step", killed)
    with pytest.raises(KeyboardInterrupt):
        measure_affinity(config, tmp_path / "cut", progress=False, every=5)
    monkeypatch.setattr(AffinityStep, "step", original)
    again = measure_affinity(config, tmp_path / "cut", progress=False, every=5, resume=True)
    for key in ("lookahead", "stages", "measurements", "groups"):
        assert again[key] == full[key], key


def test_the_command_prints_the_matrix_and_refuses_bad_options(tmp_path: Path, cli) -> None:
    small = {**PLANTED, "train": {**PLANTED["train"], "epochs": 1}}
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps(small))  # JSON is YAML

    def run(*args: str) -> tuple[int, str]:
        done = cli(*args)
        return done.returncode, " ".join((done.stdout + done.stderr).split())

    code, printed = run("affinity", str(config), "--out", str(tmp_path / "o"), "-q")
    assert code == 0, printed
    assert "lookahead affinity" in printed and "g1t1" in printed
    assert (tmp_path / "o" / "affinity.json").exists()
    code, printed = run("affinity", str(config), "--every", "0", "-q")
    assert code == 2 and "--every" in printed
    assert run("affinity", str(config), "--out", str(tmp_path / "o"), "-q")[0] == 0  # read back


def test_grouping_joins_only_tasks_that_help_each_other() -> None:
    z = [[1.0, 0.4, -0.2, 0.0], [0.5, 1.0, -0.1, 0.0], [-0.3, -0.2, 1.0, 0.3], [0, 0, 0.2, 1]]
    assert group_tasks(z) == [0, 0, 1, 1]
    assert group_tasks([[1, -0.1], [-0.1, 1]]) == [0, 1]
    assert group_tasks([[1, 0.1], [0.1, 1]]) == [0, 0]


def test_adjusted_rand_index() -> None:
    assert adjusted_rand_index([0, 0, 1, 1], [5, 5, 2, 2]) == 1.0  # labels are names only
    assert adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    assert adjusted_rand_index([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]) == pytest.approx(
        0.2424, abs=1e-3
    )
    with pytest.raises(ValueError):
        adjusted_rand_index([0, 1], [0])
