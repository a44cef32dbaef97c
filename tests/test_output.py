"""What the command line prints: raw numbers in JSON and CSV, formatted ones in tables and
Markdown, tables that never break a word, log lines that are never wrapped, one-based epochs,
progress off a terminal, and other libraries' INFO lines only with --verbose."""

import csv
import io
import json
import logging
from pathlib import Path

import pytest
from rich.console import Console

from sharenas import output
from sharenas.report.runs import table_rows
from sharenas.terminal_table import renderable
from tests.conftest import run_cli

ARCHS = ("single-task", "hard-sharing", "cross-stitch", "mmoe", "ple", "nddr")


def records(tasks: int = 2) -> list[dict]:
    """One metrics record per architecture, with full-precision numbers."""
    names = [f"task{i}" for i in range(tasks)]
    return [
        {
            "run": f"runs/x/{arch}",
            "arch": arch,
            "tasks": {t: {"accuracy": 0.123456789 + i, "cross_entropy": 1.0 / 3} for t in names},
            "delta_mtl": None if arch == "nddr" else 0.0 if i == 0 else 1.234567,
            "params": 89826 + i,
            "flops_per_example": 12345678.9,
            "train_seconds": 3.14159,
        }
        for i, arch in enumerate(ARCHS)
    ]


def test_json_and_csv_carry_raw_numbers_and_md_formatted_ones(capsys) -> None:
    table = table_rows(records())
    output.table(table, "json")
    rows = json.loads(capsys.readouterr().out)
    first, second, last = rows[0], rows[1], rows[-1]
    assert first["params"] == 89826 and first["Δ_MTL %"] == 0.0
    assert second["Δ_MTL %"] == 1.234567 and second["task0 accuracy"] == 1.123456789
    assert first["MFLOPs/example"] == pytest.approx(12.3456789) and last["Δ_MTL %"] is None
    output.table(table, "csv")
    cells = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert cells[0]["params"] == "89826" and cells[1]["task0 accuracy"] == "1.123456789"
    assert cells[0]["train s"] == "3.14159" and cells[-1]["Δ_MTL %"] == ""
    output.table(table, "md")
    md = capsys.readouterr().out
    assert "| 89,826 |" in md and "| +0.00 |" in md and "| +1.23 |" in md and "1.123 |" in md


@pytest.mark.parametrize("width", [100, 80])
def test_tables_never_break_a_word(width: int) -> None:
    for tasks in (2, 6):  # one that fits, one that must be shown a row at a time
        console = Console(width=width, record=True)
        console.print(renderable(table_rows(records(tasks)), width))
        text = console.export_text()
        assert all(len(line) <= width for line in text.splitlines())
        words = {word for line in text.splitlines() for word in line.split()}
        for arch in ARCHS:
            assert arch in words or f"{arch}/" in text, arch  # whole, never hard-sh / aring
        assert "89,826" in words and "+1.23" in words


def test_datasets_commands_take_format(cli) -> None:
    listed = cli("datasets", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    mmoe = next(r for r in json.loads(listed.stdout) if r["name"] == "synthetic-mmoe")
    assert mmoe["sizes (train/val/test)"] == {"train": 10000, "val": 1000, "test": 1000}
    shown = cli("datasets", "show", "synthetic-mmoe", "--set", "train_size=100", "--format", "csv")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "task,kind,train,val,test"
    assert "synthetic-mmoe:" in shown.stderr  # the words for people stay off standard output
    raw = cli("datasets", "show", "synthetic-mmoe", "--set", "train_size=100", "--format", "json")
    task = json.loads(raw.stdout)[0]  # the statistics as numbers, not a line of text
    assert isinstance(task["train"]["mean"], float) and "max" in task["train"], task
    people = cli("datasets", "show", "synthetic-mmoe", "--set", "train_size=100")
    assert "positive rate" in people.stdout or "mean " in people.stdout


def tiny_config(tmp_path: Path, epochs: int) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(
        "data: {name: synthetic-mmoe, train_size: 200, val_size: 50, test_size: 50, dim: 8}\n"
        f"model: {{backbone: {{name: mlp, widths: [8]}}}}\ntrain: {{epochs: {epochs}, "
        "batch_size: 50}\n"
    )
    return path


def test_epochs_one_based_and_progress_lines_off_a_terminal(tmp_path: Path, cli, monkeypatch):
    monkeypatch.setattr("sharenas.engine.progress.EVERY", 0.0)  # a line at every step
    run = cli("train", tiny_config(tmp_path, 3), "--arch", "mmoe", "--out", tmp_path / "r")
    assert run.returncode == 0, run.stderr
    assert "epoch 1/3" in run.stderr and "epoch 3/3" in run.stderr, run.stderr
    assert "epoch 0" not in run.stderr and "epoch 4" not in run.stderr
    assert "12 steps to run" in run.stderr and "epoch 2/3: step 8/12" in run.stderr
    assert "generating synthetic-mmoe" in run.stderr  # a generated set
    assert json.loads(cli("evaluate", tmp_path / "r", "--format", "json").stdout)[0]["value"] > 0


def test_log_lines_are_not_wrapped_off_a_terminal(tmp_path: Path, cli) -> None:
    out = tmp_path / ("a-long-folder-name-" * 6) / "run"
    config = tiny_config(tmp_path, 1)
    assert cli("train", config, "--arch", "mmoe", "--out", out, "-q").returncode == 0
    (out / "metrics.json").unlink()  # the run resumes after its last epoch
    resumed = run_cli("train", str(config), "--arch", "mmoe", "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    lines = resumed.stderr.splitlines()
    assert any(f"resuming {out} after epoch 1" in line for line in lines), resumed.stderr


def test_other_libraries_info_only_with_verbose(cli) -> None:
    assert cli("datasets", "list", "--format", "md").returncode == 0
    assert logging.getLogger("sharenas.runs").isEnabledFor(logging.INFO)
    assert not logging.getLogger("onnxscript").isEnabledFor(logging.INFO)
    assert cli("--verbose", "datasets", "list", "--format", "md").returncode == 0
    assert logging.getLogger("onnxscript").isEnabledFor(logging.INFO)
    assert cli("-q", "datasets", "list", "--format", "md").returncode == 0
    assert not logging.getLogger("sharenas.runs").isEnabledFor(logging.INFO)


def test_seeds_reports_take_format(tmp_path: Path, cli) -> None:
    """``--seeds`` with --format json gives every run of every seed as numbers (it printed the
    report's Markdown whatever the format); md gives the report."""
    config = tiny_config(tmp_path, 1)
    args = ["train", config, "--arch", "mmoe", "--seeds", "0,1", "--out", tmp_path / "s", "-q"]
    shown = cli(*args, "--format", "json")
    assert shown.returncode == 0, shown.stderr
    runs = json.loads(shown.stdout)
    assert sorted(r["seed"] for r in runs) == [0, 1]
    assert all(isinstance(r["params"], int) for r in runs)
    again = cli(*args, "--format", "md")
    assert again.returncode == 0 and again.stdout.startswith("# "), again.stdout[:200]


def test_optuna_lines_only_with_verbose(tmp_path: Path, cli) -> None:
    """The partition study's own log lines (Optuna's "A new study created") show with --verbose
    only (they were silenced even then)."""
    from sharenas.config import dump_config
    from tests.test_partition_search import partition_config

    path = tmp_path / "p.yaml"
    path.write_text(dump_config(partition_config(trials=2)))
    quiet = cli("search", path, "--out", tmp_path / "a", "--no-baselines")
    assert quiet.returncode == 0, quiet.stderr
    assert "A new study created" not in quiet.stderr
    loud = cli("-v", "search", path, "--out", tmp_path / "b", "--no-baselines")
    assert loud.returncode == 0, loud.stderr
    assert "A new study created" in loud.stderr


def test_a_report_of_smoke_runs_is_titled_so(tmp_path: Path, cli) -> None:
    config = tiny_config(tmp_path, 1)
    run = cli("train", config, "--arch", "mmoe", "--smoke", "--out", tmp_path / "r", "-q")
    assert run.returncode == 0, run.stderr
    shown = cli("report", tmp_path / "r", "--out", tmp_path / "rep", "--format", "md")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("**Smoke run"), shown.stdout[:200]


def test_a_column_that_fits_beside_the_keys_in_no_group_is_shown_by_row() -> None:
    """A long word that cannot stand beside the key columns at this width: the table is shown a
    row at a time (column_groups gave it a group of its own, and the rendering crashed)."""
    from rich.console import Console

    from sharenas.tabular import Column, Table
    from sharenas.terminal_table import renderable

    table = Table(
        "t", [Column("k", key=True), *map(Column, "abc")], [["key", "aaaa", "b" * 30, "cc"]]
    )
    console = Console(width=25, record=True)
    console.print(renderable(table, 25))
    assert "key" in console.export_text()


def test_runs_with_other_metrics_share_a_table_and_nan_stays_valid_json() -> None:
    """A run lacking a metric of the first run's gets a missing cell, not a shifted row; a NaN
    inside a cell of several numbers is null in JSON."""
    from sharenas.tabular import raw

    first, second = records()[:2]
    second = {**second, "tasks": {"task0": {"accuracy": 0.5}}}  # no task1, no cross_entropy
    shown = table_rows([first, second]).shown()
    assert len(shown[1]) == len(shown[0]) and "–" in shown[1]
    assert json.dumps(raw({"x": [float("nan"), {"y": float("inf")}]}), allow_nan=False)
