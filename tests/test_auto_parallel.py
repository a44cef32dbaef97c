"""``sharenas auto --workers``: the units of a phase run on worker processes through an Optuna
study (a journal file here, PostgreSQL for several hosts) and give the answer one process gives;
a killed worker's unit is queued again and finished; the workers' command refuses a folder that
is not an auto run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import sharenas
from sharenas.errors import SharenasError
from sharenas.workflows import auto_parallel, auto_room
from sharenas.workflows.auto import AutoResult
from tests.test_auto import write_config


def _auto(config: Path, out: Path, budget: str = "hard-sharing", **options: object) -> AutoResult:
    return sharenas.auto(config, out, budget, progress=False, **options)  # type: ignore[arg-type]


def _answers(found: AutoResult) -> dict[str, dict[str, float]]:
    return {c.name: c.metrics["primary"] for c in found.candidates}


@pytest.fixture
def room(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room measured whatever the tiny task set shows, so every phase runs; heartbeats of 1 s."""
    monkeypatch.setattr(auto_room, "decide", lambda *a: (True, "forced: room"))
    monkeypatch.setattr(auto_parallel, "HEARTBEAT", 1)


@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> tuple[AutoResult, Path]:
    """The one-process answer to the tiny config at the MMoE budget (room forced, as ``room``
    does), computed once for the tests that compare the workers' answer with it; its folder is
    only read."""
    root = tmp_path_factory.mktemp("alone")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHARENAS_DATA", str(root / "cache"))
        patch.setenv("SHARENAS_OFFLINE", "1")
        patch.setattr(auto_room, "decide", lambda *a: (True, "forced: room"))
        patch.setattr(auto_parallel, "HEARTBEAT", 1)
        return _auto(write_config(root), root / "one", "mmoe"), root / "one"


def test_two_workers_give_the_answer_one_process_gives(
    tmp_path: Path, room: None, alone: tuple[AutoResult, Path]
) -> None:
    config = write_config(tmp_path)
    alone, one = alone
    both = _auto(config, tmp_path / "two", "mmoe", workers=2)
    assert _answers(both) == _answers(alone)  # one torch thread each: the same numbers
    assert both.recommended.name == alone.recommended.name
    assert both.state["race"] == alone.state["race"]
    state = json.loads((tmp_path / "two" / "auto.json").read_text())
    phases = [set(p["units"]) for p in state["parallel"]]
    # single-task (it fits MMoE's budget here) beside the branching search; then hard-sharing
    # alone (taken from the branching search's measuring training); then the partition
    # study beside the other baselines' rung 0
    assert phases[0] == {"baseline single-task", "rung 1 branching"}
    assert "study partition" in phases[1] and "baseline mmoe, rung 0" in phases[1]
    assert "baseline hard-sharing" not in set().union(*phases)
    assert all(p["workers"] == 2 for p in state["parallel"])
    assert (tmp_path / "two" / auto_parallel.JOURNAL_FILE).exists()
    assert "parallel" not in json.loads((one / "auto.json").read_text())
    other = f"journal:///{tmp_path}/other.journal"  # resumed with another storage: refused
    with pytest.raises(SharenasError, match="the study it started with"):
        _auto(config, tmp_path / "two", "mmoe", workers=2, storage=other)


def test_a_storage_is_checked_before_anything_trains(tmp_path: Path, room: None) -> None:
    config, out = write_config(tmp_path), tmp_path / "auto"
    with pytest.raises(SharenasError, match="--workers 2 or more"):
        _auto(config, out, storage=f"journal:///{tmp_path}/units.journal")
    with pytest.raises(SharenasError):
        _auto(config, out, workers=2, storage=f"journal:///{tmp_path}/no/such/units.journal")
    state = json.loads((out / "auto.json").read_text()) if (out / "auto.json").exists() else {}
    assert not state.get("units") and "study" not in state


DYING = """
import os, sys
from pathlib import Path
from sharenas.run_files import read_record
from sharenas.workflows.auto_parallel import open_units_study, units_study
out = Path(sys.argv[1])
url, name, beat = units_study(read_record(out / "auto.json"), out)
study = open_units_study(url, name, beat)
trial = study.ask()
study._storage.record_heartbeat(trial._trial_id)
os._exit(9)
"""
LATE = """
import runpy, sys, time
time.sleep(2)
runpy.run_module("sharenas.workflows.auto_worker", run_name="__main__")
"""


def test_a_killed_workers_unit_is_queued_again_and_finished(
    tmp_path: Path, room: None, monkeypatch: pytest.MonkeyPatch, alone: tuple[AutoResult, Path]
) -> None:
    """The first worker takes a unit, beats once and dies as SIGKILL leaves it (its unit's
    trial RUNNING, no result); the second, started late, fails it once its heartbeat is stale,
    which queues it again, and finishes it: the answer one process gives."""
    import sys

    config = write_config(tmp_path)
    alone = alone[0]  # phases of several units
    started: list[int] = []

    def command(out: Path, threads: int | None) -> list[str]:
        started.append(1)
        return [sys.executable, "-c", DYING if len(started) == 1 else LATE, str(out)]

    monkeypatch.setattr(auto_parallel, "worker_command", command)
    found = _auto(config, tmp_path / "auto", "mmoe", workers=2)
    assert _answers(found) == _answers(alone)
    state = json.loads((tmp_path / "auto" / "auto.json").read_text())
    url, name, beat = auto_parallel.units_study(state, tmp_path / "auto")
    trials = auto_parallel.open_units_study(url, name, beat).get_trials()
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert len(failed) == 1 and "unit" in failed[0].user_attrs
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == failed[0].number]
    assert [t.state.name for t in retried] == ["COMPLETE"]
    assert retried[0].user_attrs["unit"] == failed[0].user_attrs["unit"]


def test_workers_share_a_postgresql_storage(tmp_path: Path, room: None, postgres_url: str) -> None:
    config = write_config(tmp_path)
    found = _auto(config, tmp_path / "auto", "mmoe", workers=2, storage=postgres_url)
    state = json.loads((tmp_path / "auto" / "auto.json").read_text())
    assert state["storage"] == postgres_url and state["parallel"][0]["workers"] == 2
    assert not (tmp_path / "auto" / auto_parallel.JOURNAL_FILE).exists()
    assert found.recommended.within(found.plan.budget)


def test_the_worker_command_refuses_a_folder_that_is_not_an_auto_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sharenas.workflows.auto_worker import main

    assert main([str(tmp_path)]) == 2
    assert "not an auto folder" in capsys.readouterr().err
    (tmp_path / "auto.json").write_text(json.dumps({"plan": {}, "eta": 3}))
    assert main([str(tmp_path)]) == 2
    assert "not started with --workers" in capsys.readouterr().err
