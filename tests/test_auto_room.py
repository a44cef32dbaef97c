"""``sharenas auto`` measures the room first: the decision rule, the bootstrap noise it reads,
the early stop (two units, then a recommendation), the path where room is measured (the tree and
the baselines within the budget, no other search) and resuming without redoing work."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import sharenas
from sharenas.data.base import MultiTaskDataset
from sharenas.engine.bootstrap import bootstrap_delta_sd
from sharenas.errors import SharenasError
from sharenas.tasks.spec import TaskKind, TaskSpec
from sharenas.workflows import auto_room
from sharenas.workflows.auto import AutoResult
from sharenas.workflows.auto_room import decide
from tests.test_architectures import handlers
from tests.test_auto import write_config


def test_no_room_only_when_the_tree_shares_and_hard_sharing_is_within_the_noise() -> None:
    assert decide(True, -0.5, 0.4) == (False, decide(True, -0.5, 0.4)[1])
    assert decide(True, +3.0, 0.4)[0] is False  # sharing measurably helps: nothing to search
    room, why = decide(True, -1.0, 0.4)  # below single-task beyond 2 × the noise
    assert room and "below single-task" in why
    room, why = decide(False, +5.0, 0.1)  # the affinities ask for branches
    assert room and "branches" in why
    room, why = decide(True, +1.0, 0.4, forced=True)  # the budget merged what they kept apart
    assert room and "budget forces" in why
    for delta, noise in ((math.nan, 0.4), (-50.0, math.inf), (-1.0, math.nan)):
        assert decide(True, delta, noise)[0] is True  # nothing is ruled out on no evidence
    room, why = decide(True, None, None)  # single-task over the budget: the affinities decide
    assert not room and "not trained" in why
    assert decide(False, None, None)[0] and decide(True, None, None, forced=True)[0]


class Shifted(nn.Module):
    """Predicts the first input column plus ``shift`` for each task."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.shift = shift

    def forward(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {t: x["numeric"][:, :1] + self.shift for t in ("a", "b")}


def _split(rows: int) -> MultiTaskDataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(rows, 2, generator=generator)
    targets = {t: x[:, :1] + 0.3 * torch.randn(rows, 1, generator=generator) for t in ("a", "b")}
    specs = [TaskSpec(name=t, kind=TaskKind("regression")) for t in ("a", "b")]
    return MultiTaskDataset({"numeric": x}, targets, specs)


def test_the_bootstrap_noise_is_zero_for_one_model_and_shrinks_with_more_rows() -> None:
    tasks = handlers(("a", "regression", {}), ("b", "regression", {}))
    cpu = torch.device("cpu")
    same = bootstrap_delta_sd(Shifted(0.1), Shifted(0.1), tasks, _split(200), 64, cpu)
    assert same == 0.0
    few = bootstrap_delta_sd(Shifted(0.2), Shifted(0.0), tasks, _split(100), 64, cpu)
    many = bootstrap_delta_sd(Shifted(0.2), Shifted(0.0), tasks, _split(3000), 64, cpu)
    assert few > many > 0.0
    again = bootstrap_delta_sd(Shifted(0.2), Shifted(0.0), tasks, _split(100), 64, cpu)
    assert again == few  # seeded


def _trained(out: Path) -> dict[Path, int]:
    """When each trained model's metrics were written (the delivered copy left out)."""
    found = out.rglob("metrics.json")
    return {p: p.stat().st_mtime_ns for p in found if "recommended" not in p.parts}


def _auto(
    tmp_path: Path,
    out: Path,
    *overrides: str,
    thorough: bool = False,
    budget: str = "hard-sharing",
) -> AutoResult:
    config = write_config(tmp_path)
    return sharenas.auto(
        config, out, budget, overrides=list(overrides), thorough=thorough, progress=False
    )


def test_auto_stops_where_there_is_no_room_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auto_room, "decide", lambda *a: (False, "forced: no room"))
    out = tmp_path / "auto"
    random_branching = ("search.space=branching", "search.strategy=random")  # measured anyway
    found = _auto(tmp_path, out, *random_branching)
    state = json.loads((out / "auto.json").read_text())
    assert set(state["units"]) == {"rung 1 branching"}  # single-task is over the budget
    assert state["room"]["room"] is False and state["room"]["noise"] is None
    report = (out / "report.md").read_text()
    decision = report.splitlines()[2]
    # the budget prices FLOPs but the partition search fits it: the decision is the tree's
    assert decision.startswith("**Decision: no room — stopped.** Forced: no room")
    assert "Evidence: the affinity tree" in report and "Total cost:" in report
    assert "single-task, over the budget, was not trained" in report
    unit = out / "rung-1" / "branching"  # a unit's report is text: auto's has the figure
    assert (unit / "report.md").exists() and not list(unit.glob("*.png"))
    assert "Every Δ_MTL here is against hard-sharing" in report
    assert found.recommended.within(found.plan.budget)
    model = sharenas.load_model(out / "recommended")
    assert set(model.predict({"numeric": torch.randn(4, 8)}).tasks) == {"task1", "task2"}
    stamps = _trained(out)
    again = _auto(tmp_path, out, *random_branching)  # resumed: nothing retrained, same answer
    assert _trained(out) == stamps and len(stamps) >= 1
    assert again.recommended.name == found.recommended.name
    with pytest.raises(SharenasError, match="started without --thorough"):
        _auto(tmp_path, out, *random_branching, thorough=True)


def test_single_task_measures_the_room_where_it_fits_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple] = []
    monkeypatch.setattr(auto_room, "decide", lambda *a: seen.append(a) or (False, "no room"))
    found = _auto(tmp_path, tmp_path / "auto", budget="single-task")
    assert set(found.state["units"]) == {"baseline single-task", "rung 1 branching"}
    delta, noise = seen[0][1:3]
    assert math.isfinite(delta) and noise >= 0.0 and found.state["room"]["noise"] == noise
    report = (found.folder / "report.md").read_text()
    assert "against single-task on validation" in report and "against hard-sharing" not in report


def test_auto_where_room_is_measured_trains_the_baselines_and_the_partition_search_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auto_room, "decide", lambda *a: (True, "forced: room"))
    out = tmp_path / "auto"
    found = _auto(tmp_path, out)
    units = set(found.state["units"])
    # single-task is over hard-sharing's budget: not trained, Δ_MTL against hard-sharing; the
    # partition study's choice is trained only where successive halving keeps it
    trained = "partition" in found.state["race"]["continued"]
    assert units == {"rung 1 branching", "baseline hard-sharing", "study partition"} | (
        {"rung 1 partition"} if trained else set()
    )
    assert not any(u.startswith(("rung 0", "random")) for u in units)
    assert any(c.space == "partition" for c in found.candidates) == trained
    report = (out / "report.md").read_text()
    assert "**Decision: room measured.** Forced: room" in report
    assert "within the budget and the partition search raced beside it" in report
    assert "Every Δ_MTL here is against hard-sharing" in report
    # the hard-sharing baseline is the measuring training's network, evaluated, not retrained
    hard = sharenas.load_run(out / "baselines" / "hard-sharing")
    assert "measuring training" in hard.metrics["trained_by"]
    assert not (out / "baselines" / "hard-sharing" / "history.jsonl").exists()
    supernet = out / "rung-1" / "branching" / "search" / "supernet"
    weights = torch.load(supernet / "best.pt", weights_only=True)["model"]
    assert all(torch.equal(weights[k], v) for k, v in hard.model.state_dict().items())
    assert "Total cost:" in report and "× one hard-sharing (the branching search" in report
    study = json.loads((out / "rung-1" / "partition" / "search" / "trials.json").read_text())
    assert [t.get("reference") for t in study][:1] == ["independent"]  # not share-all
    scored = json.loads((out / "rung-1" / "partition" / "search" / "metrics.json").read_text())
    assert "hard-sharing (reference run)" in scored["references"]  # no teachers trained
    if trained:
        assert scored["single_task"]["label"] == "hard-sharing (reference run)"


def test_the_seeds_phase_retrains_a_model_delivered_with_inherited_weights() -> None:
    from sharenas.workflows.auto_scores import Candidate
    from sharenas.workflows.auto_seeds import from_scratch

    def model(**metrics: object) -> Candidate:
        return Candidate("m", "search", "routing", 1, Path("."), dict(metrics), {})

    assert from_scratch(model(arch="mmoe"))  # a baseline
    assert from_scratch(model(derive="retrain"))
    assert from_scratch(model(derive="best", retrained={"kept": "retrained"}))
    assert not from_scratch(model(derive="best", retrained={"kept": "inherited"}))
    assert not from_scratch(model(derive="none"))
    assert not from_scratch(model(derive="finetune"))
    assert from_scratch(model(derive="none", derive_skipped="the supernet is the network"))


def test_a_budget_that_forces_sharing_is_room_only_where_another_model_fits() -> None:
    from sharenas.workflows.auto_room import _alternatives

    plan = {
        "budget": 100.0,
        "baselines": {"single-task": 300, "hard-sharing": 100},
        "spaces": ["branching", "routing", "partition"],
        "one_network": {"partition": "every point within the budget builds one network"},
    }
    assert _alternatives(plan) == []  # only hard-sharing fits: nothing else to train
    plan["one_network"] = {}
    assert _alternatives(plan) == ["partition"]  # channels of their own at the same FLOPs
    plan["baselines"]["cross-stitch"] = 90
    assert _alternatives(plan) == ["cross-stitch", "partition"]


def test_no_room_where_only_hard_sharing_fits_says_so_once() -> None:
    from sharenas.workflows.auto_room import _nothing_else

    for why in (_nothing_else(None, None), _nothing_else(-1.5, 0.8)):
        assert "keeps every task in one group" in why and "unforced" not in why
    assert "-1.50 %" in _nothing_else(-1.5, 0.8) and "not trained" in _nothing_else(None, None)


def test_auto_evaluates_one_generation_of_partitions_unless_the_config_searches_them(
    tmp_path: Path,
) -> None:
    from sharenas.api import resolve_config
    from sharenas.workflows.auto_plan import space_config

    twenty = ["search.study.trials=20"]
    config = resolve_config(write_config(tmp_path), ["search.space=branching", *twenty])
    study = space_config(config, "partition", 2, 1e9).searched.study
    assert study.trials == study.population == 8
    tiny = resolve_config(write_config(tmp_path), ["search.space=branching"])
    assert space_config(tiny, "partition", 2, 1e9).searched.study.trials == 3  # fewer: kept
    own = resolve_config(write_config(tmp_path), ["search.space=partition", *twenty])
    assert space_config(own, "partition", 2, 1e9).searched.study.trials == 20  # the user's


def test_the_room_path_evaluates_the_partitions_the_evidence_points_at(tmp_path: Path) -> None:
    from sharenas.api import resolve_config
    from sharenas.workflows.auto_plan import space_config
    from sharenas.workflows.auto_work import evidence_study

    config = resolve_config(write_config(tmp_path), ["search.space=branching"])
    searched = space_config(config, "partition", 2, 1e9)
    out = tmp_path / "auto"
    tree_file = out / "rung-1" / "branching" / "search" / "arch.json"
    tree_file.parent.mkdir(parents=True)
    for tree, groupings in (
        ([[["a", "b"]], [["a"], ["b"]]], []),  # independent at the last stage: a corner
        ([[["a", "b"]], [["a", "b"]]], []),  # one group: share-all, measured by hard-sharing
        ([[["a", "b", "c"]], [["a", "c"], ["b"]]], [[["a", "c"], ["b"]]]),
    ):
        tree_file.write_text(json.dumps({"tree": tree}))
        study = evidence_study(searched, out).searched.study
        assert study.groupings == groupings and study.share_all is False
        assert study.trials == 1 + len(groupings)  # independent, then the tree's groups
    tree_file.unlink()
    assert evidence_study(searched, out).searched.study.trials == 1


def test_the_room_path_races_the_other_baselines_by_successive_halving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.workflows import auto_race

    monkeypatch.setattr(auto_room, "decide", lambda *a: (True, "forced: room"))
    real = auto_race.rung_row
    for out in (tmp_path / "all", tmp_path / "baselines-only"):
        if out.name == "baselines-only":  # the full-budget models unread: a baseline goes on
            only = lambda f, e: real(f, e) if "baselines" in f.parts else None  # noqa: E731
            monkeypatch.setattr(auto_race, "rung_row", only)
            monkeypatch.setattr(auto_race, "study_choice", lambda f: None)
        found = _auto(tmp_path, out, budget="mmoe")
        raced = [b for b in found.plan.baselines if b not in ("single-task", "hard-sharing")]
        race = found.state["race"]
        assert "mmoe" in raced
        assert sorted(race["continued"] + race["stopped"]) == sorted([*raced, "partition"])
        racing = [n for n in race["scores"] if n in race["continued"] + race["stopped"]]
        trained = [v for n, v in race["scores"].items() if n not in racing]
        best = sorted(racing, key=lambda n: -race["scores"][n])[: math.ceil(len(racing) / 3)]
        assert race["epochs"] == 1
        assert race["kept"] == [n for n in best if race["scores"][n] > max(trained, default=-1e9)]
        assert ("hard-sharing" in race["scores"]) == (out.name == "all")
        assert ("partition" in race["stopped"]) or out.name == "all"  # chose nothing: stopped
        names = {c.name for c in found.candidates}
        if "partition" in race["continued"]:
            assert "partition search" in names  # its choice trained in full
        for name in set(race["continued"]) - {"partition"}:
            assert f"baseline {name}" in names
            last = (out / "baselines" / name / "history.jsonl").read_text().splitlines()[-1]
            assert json.loads(last)["epoch"] == 1  # resumed to the full 2 epochs
        for name in set(race["stopped"]) - {"partition"}:
            assert f"baseline {name}" not in names and f"baseline {name}, rung 0" not in names
            assert (out / "baselines" / name / "checkpoint.pt").exists()
            assert not (out / "baselines" / name / "metrics.json").exists()
        report = (out / "report.md").read_text()
        assert "Successive halving among the room's models (η = 3)" in report
    assert found.state["race"]["continued"]  # the baselines-only race keeps ⌈n/3⌉ ≥ 1
    assert real(tmp_path / "nowhere", 1) is None


def test_a_rung_row_is_the_epoch_asked_or_the_last_one(tmp_path: Path) -> None:
    from sharenas.workflows.auto_race import rung_row

    rows = [{"epoch": e, "val": {"a": {"acc": e / 10}}} for e in range(3)]
    (tmp_path / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert rung_row(tmp_path, 2) == rows[1]  # after 2 epochs: the row of epoch index 1
    assert rung_row(tmp_path, 9) == rows[-1]  # stopped early: its last row


def test_the_room_path_resumed_after_a_kill_gives_the_uninterrupted_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the race was decided but before auto.json recorded what came after it:
    the rerun decides the same race, keeps every finished run and recommends the same model."""
    monkeypatch.setattr(auto_room, "decide", lambda *a: (True, "forced: room"))
    out = tmp_path / "auto"
    first = _auto(tmp_path, out, budget="mmoe")
    state = json.loads((out / "auto.json").read_text())
    race = state.pop("race")
    for unit in ("baseline mmoe", "rung 1 partition"):
        state["units"].pop(unit, None)  # as if killed before these were recorded
    (out / "auto.json").write_text(json.dumps(state))
    stamps = _trained(out)
    again = _auto(tmp_path, out, budget="mmoe")
    assert again.state["race"] == race and _trained(out) == stamps  # nothing trained again
    assert again.recommended.name == first.recommended.name
    assert again.recommended.test_delta == first.recommended.test_delta
