"""Defects a review found: each test here failed before its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_a_smoke_train_with_out_runs_twice(cli, tmp_path: Path) -> None:
    for _ in range(2):
        trained = cli("train", "synthetic-mmoe", "--smoke", "--out", "mine", "-q", cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr


def test_a_smoke_run_never_replaces_a_real_run_given_as_out(cli, tmp_path: Path) -> None:
    tiny = ["--set", "data.limit=64", "--set", "train.epochs=1", "-q"]
    assert cli("train", "synthetic-mmoe", "--out", "real", *tiny, cwd=tmp_path).returncode == 0
    before = (tmp_path / "real" / "metrics.json").read_text()
    again = cli("train", "synthetic-mmoe", "--smoke", "--out", "real", "-q", cwd=tmp_path)
    assert again.returncode == 2 and "already holds a finished run" in again.stderr
    assert (tmp_path / "real" / "metrics.json").read_text() == before


def test_a_smoke_auto_runs_again_with_another_budget(cli, tmp_path: Path) -> None:
    for budget in ("hard-sharing", "1M"):
        result = cli("auto", "synthetic-mmoe", "--budget", budget, "--smoke", "-q", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    state = tmp_path / "runs" / "smoke" / "auto-synthetic-mmoe" / "auto.json"
    assert json.loads(state.read_text())["plan"]["budget"] == pytest.approx(1e6)


def test_smoke_caps_keep_a_smaller_value_of_the_users() -> None:
    from sharenas.config import build_config, load_yaml
    from sharenas.runs.smoke import is_smoke, smoke_config
    from sharenas.shipped import config_file

    raw = load_yaml(config_file("synthetic-mmoe").read_text())
    raw["data"]["limit"], raw["train"]["epochs"] = 1, 1
    config = smoke_config(build_config(raw, source="test"))
    assert config.data.limit == 1 and config.train.epochs == 1
    assert config.train.max_batches == 2 and is_smoke(config)
    bigger = smoke_config(build_config({**raw, "data": {**raw["data"], "limit": 10_000}}, "t"))
    assert bigger.data.limit == 128 and bigger.train.epochs == 1


def test_a_folder_in_the_cwd_does_not_shadow_a_shipped_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.shipped import SHIPPED, config_file

    monkeypatch.chdir(tmp_path)
    Path("synthetic-mmoe-routing").mkdir()
    assert config_file("synthetic-mmoe-routing") == SHIPPED / "synthetic-mmoe-routing.yaml"
    Path("my-run").mkdir()  # no shipped config of that name: the reader says it is a folder
    assert config_file("my-run") == Path("my-run")


def test_a_yaml_suffix_on_a_shipped_name_is_accepted_by_config_file_and_copy(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.shipped import SHIPPED, config_file

    monkeypatch.chdir(tmp_path)
    assert config_file("census-income.yaml") == SHIPPED / "census-income.yaml"
    Path("census-income.yaml").write_text("data: {name: synthetic-mmoe}\n")
    assert config_file("census-income.yaml") == Path("census-income.yaml")  # the file wins
    copied = cli("configs", "copy", "census-income.yaml", "mine.yaml")
    assert copied.returncode == 0, copied.stderr
    assert (tmp_path / "mine.yaml").read_text() == (SHIPPED / "census-income.yaml").read_text()


def test_configs_copy_of_a_misspelled_name_says_did_you_mean(cli, tmp_path: Path) -> None:
    result = cli("configs", "copy", "census-incme", cwd=tmp_path)
    assert result.returncode == 2
    assert "Did you mean the shipped config 'census-income'?" in result.stderr


def test_configs_copy_never_writes_through_a_symlink(cli, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "target"
    target.parent.mkdir()
    (tmp_path / "link.yaml").symlink_to(target)  # dangling
    refused = cli("configs", "copy", "census-income", "link.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and "symbolic link" in refused.stderr
    assert not target.exists()
    target.write_text("mine")
    forced = cli("configs", "copy", "census-income", "link.yaml", "--force", cwd=tmp_path)
    assert forced.returncode == 2 and "symbolic link" in forced.stderr
    assert target.read_text() == "mine"
    (tmp_path / "folder").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "folder")  # a linked folder: a file inside it
    assert cli("configs", "copy", "census-income", "linked", cwd=tmp_path).returncode == 0
    assert (tmp_path / "folder" / "census-income.yaml").is_file()


def test_the_delivered_words_name_the_weights_kept() -> None:
    from sharenas.search.base import delivered_words

    assert delivered_words({"derive": "both"}) == "retrained"
    assert delivered_words({"derive": "none"}) == "inherited weights"
    assert delivered_words({"derive": "finetune"}) == "fine-tuned"
    best = {"derive": "best", "retrained": {"kept": "inherited"}}
    assert delivered_words(best).startswith("inherited weights (better on validation")
    best["retrained"]["kept"] = "retrained"
    assert delivered_words(best).startswith("retrained weights")


def test_the_routing_line_and_the_report_intro_say_retrained_for_both() -> None:
    from types import SimpleNamespace

    from sharenas.config import build_config, load_yaml
    from sharenas.report.search_summary import intro_lines
    from sharenas.search.route_step import RouteStep
    from sharenas.shipped import config_file

    record = {
        "derive": "both",
        "strategy": "reinforce",
        "route": "r",
        "relative_cost": 1.0,
        "inherited_primary": {"task1": 0.5},
    }
    line = RouteStep.describe(SimpleNamespace(), record)  # type: ignore[arg-type]
    assert "delivered: retrained;" in line and "both" not in line
    raw = load_yaml(config_file("synthetic-mmoe-routing").read_text())
    raw["search"]["derive"] = "both"
    config = build_config(raw, source="test")
    intro = intro_lines(config, {"train": 1, "val": 1, "test": 1}, record)[0]
    assert intro.endswith("delivered model: retrained.")


def _kept_figures(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures the drawing functions close, kept to be inspected."""
    import matplotlib.pyplot as plt

    closed: list = []
    monkeypatch.setattr(plt, "close", closed.append)
    return closed


def test_the_routing_search_plot_counts_epochs_from_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.report.routing import search_history_plot

    rows = [{"epoch": e, "reward": 0.5 + e, "policy_entropy": 1.0 - 0.1 * e} for e in range(2)]
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(r) + "\n" for r in rows))
    closed = _kept_figures(monkeypatch)
    search_history_plot(history, tmp_path / "search.png")
    for ax in closed[0].axes:
        assert list(ax.get_lines()[0].get_xdata()) == [1, 2]
        assert all(float(t).is_integer() for t in ax.get_xticks())


def test_a_routing_search_without_architecture_steps_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.report.routing import search_history_plot

    rows = [{"epoch": e, "architecture_steps": 0, "policy_entropy": 1.0} for e in range(2)]
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(r) + "\n" for r in rows))
    closed = _kept_figures(monkeypatch)
    search_history_plot(history, tmp_path / "search.png")
    left = closed[0].axes[0]
    assert [t.get_text() for t in left.texts] == ["no architecture steps"]
    assert not left.get_lines() and left.get_ylabel() == ""


def test_the_fusion_gate_plot_counts_epochs_from_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.report.fusion import gate_history_plot

    edges = ["left:0->right:0"]
    rows = [{"epoch": e, "probabilities": {edges[0]: 0.5 + 0.1 * e}} for e in range(3)]
    history = tmp_path / "h.jsonl"
    history.write_text("".join(json.dumps(r) + "\n" for r in rows))
    closed = _kept_figures(monkeypatch)
    gate_history_plot(history, tmp_path / "gates.png", edges)
    assert list(closed[0].axes[0].get_lines()[0].get_xdata()) == [1, 2, 3]


def test_each_invalid_key_is_blamed_on_its_own_source(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {name: synthetic-mmoe}\ntrain: {epochs: -3}\n")
    result = cli("train", bad, "--set", "train.lr=-1", "--set", "seed=1")
    assert result.returncode == 2
    file_part, _, set_part = result.stderr.partition("invalid --set train.lr=-1 (applied to ")
    assert file_part.startswith(f"error: invalid {bad}:") and "train.epochs" in file_part
    assert "train.lr" not in file_part and "--set seed=1" not in result.stderr
    assert "train.lr: given -1" in set_part and "train.epochs" not in set_part


def test_a_set_key_blames_only_its_exact_key(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {name: synthetic-mmoe}\ntrain: {epochs: -3}\n")
    result = cli("train", bad, "--set", "train.e=3")
    assert result.returncode == 2
    file_part, _, set_part = result.stderr.partition("invalid --set train.e=3 (applied to ")
    assert "train.epochs: given -3" in file_part and "train.e:" not in file_part
    assert "train.e: unknown key" in set_part and "train.epochs: given" not in set_part


def test_the_shipped_configs_comments_use_names_and_one_line_descriptions() -> None:
    import re

    from sharenas.shipped import SHIPPED, description, shipped_names

    for name in shipped_names():
        text = (SHIPPED / f"{name}.yaml").read_text()
        comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
        assert not any("configs/" in line for line in comments), name
        assert not any(re.search(r"\bissue \d", line) for line in comments), name
        for line in comments:
            command = re.match(r"#\s+sharenas \w+ (\S+)", line)
            assert command is None or command.group(1) in shipped_names(), line
        first = description(SHIPPED / f"{name}.yaml")
        assert first.endswith((".", "?")) and "…" not in first and len(first) <= 101, name


def test_a_generated_set_is_said_to_be_generated(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from sharenas.config import load_config
    from sharenas.runs.training import load_data

    with caplog.at_level(logging.INFO):
        load_data(load_config("synthetic-mmoe", ["data.limit=16"]), None)
    said = caplog.text
    assert "generating synthetic-mmoe (from its seed)" in said and "cached" not in said


def test_an_array_for_a_table_model_asks_for_a_csv_naming_its_columns(tmp_path: Path) -> None:
    import numpy as np

    from sharenas.data.preprocessing import CategoricalColumn, NumericColumn, TableEncoding
    from sharenas.deploy.inputs import read_rows
    from sharenas.errors import DatasetError

    numeric = [NumericColumn(name=f"x{i}", mean=0.0, std=1.0) for i in range(5)]
    encoding = TableEncoding(
        numeric=numeric, categorical=[CategoricalColumn(name="c", vocabulary=["a"])]
    )
    array = tmp_path / "x.npy"
    np.save(array, np.zeros((2, 6)))
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x9c" * 20)
    for given in (array, binary):
        with pytest.raises(DatasetError) as raised:
            read_rows(given, encoding)
        said = str(raised.value)
        assert "reads tables" in said and "CSV" in said and "(x0, x1, x2, x3, …)" in said
        assert "codec" not in said


def test_evaluate_a_missing_folder_says_no_such_folder(cli, tmp_path: Path) -> None:
    result = cli("evaluate", tmp_path / "nonexistent")
    assert result.returncode == 2 and "no such folder" in result.stderr
    assert "not a run folder" not in result.stderr


def test_evaluate_a_supernet_names_the_delivered_model(cli, tmp_path: Path) -> None:
    search = tmp_path / "s" / "search"
    (search / "supernet").mkdir(parents=True)
    for folder in (search, search / "supernet"):
        (folder / "config.yaml").write_text("data: {name: synthetic-mmoe}\n")
    result = cli("evaluate", search / "supernet")
    assert result.returncode == 2
    assert "the supernet is the search's training, not a delivered model" in result.stderr
    assert f"give the search's delivered model, {search}." in result.stderr
    assert "has not finished an epoch" not in result.stderr
    (search / "supernet" / "best.pt").write_bytes(b"")  # a supernet trained an epoch or more
    trained = cli("evaluate", search / "supernet")
    assert "the supernet is the search's training, not a delivered model" in trained.stderr


PARTITION_SET = [  # the shipped synthetic-mmoe, shrunk, searched for partitions
    "data.train_size=200", "data.val_size=40", "data.test_size=40", "data.dim=8",
    "model.backbone.widths=[8, 8]", "train.epochs=1", "train.batch_size=50",
    "search.space=partition", "search.partition.stages=[0, 1]",
    "search.evaluation.distill_steps=2", "search.evaluation.distill_batch=16",
]  # fmt: skip


@pytest.mark.parametrize(
    ("evaluator", "label"), [("full", "full training"), ("distill", "distill")]
)
def test_every_partition_evaluator_trains_through_one_helper(
    evaluator: str, label: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sharenas.config import load_config
    from sharenas.data import create_dataset
    from sharenas.runs.partition import _space
    from sharenas.runs.partition_eval import PartitionEvaluator, create_evaluator

    given = [*PARTITION_SET, f"search.evaluation.evaluator={evaluator}"]
    config = load_config("synthetic-mmoe", given)
    data = create_dataset(config.data).load()
    space = _space(config, data)
    labels: list[str] = []
    helper = PartitionEvaluator.train_trial

    def recorded(self, network, budget, folder, label, *rest, **options):  # type: ignore[no-untyped-def]
        labels.append(label)
        return helper(self, network, budget, folder, label, *rest, **options)

    monkeypatch.setattr(PartitionEvaluator, "train_trial", recorded)
    scored = create_evaluator(config, data, space, config.searched.evaluation)
    outcome = scored.evaluate(space.share_all(), tmp_path / "p")
    assert labels == [label] and outcome.extra["evaluator"] == evaluator


@pytest.mark.parametrize(
    "module",
    [
        "sharenas.engine.progress",
        "sharenas.engine.history",
        "sharenas.runs.training",
        "sharenas.report.routing",
    ],
)
def test_public_functions_of_these_modules_have_docstrings(module: str) -> None:
    import importlib
    import inspect

    loaded = importlib.import_module(module)
    missing = []
    for name, member in vars(loaded).items():
        if getattr(member, "__module__", None) != module:
            continue
        if inspect.isfunction(member) and not name.startswith("_"):
            missing += [name] if not (member.__doc__ or "").strip() else []
        if inspect.isclass(member):
            for method, function in vars(member).items():
                public = not method.startswith("_")
                if public and inspect.isfunction(function) and not inspect.getdoc(function):
                    missing.append(f"{name}.{method}")
    assert not missing, f"{module}: no docstring on {', '.join(missing)}"
