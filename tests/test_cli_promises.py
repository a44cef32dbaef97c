"""Commands do what they say (issue 35, part 5): option combinations are honoured or refused by
name, smoke runs can be repeated and say they are smoke, and errors blame the right input."""

from __future__ import annotations

import json
from pathlib import Path

SMOKE = Path("runs") / "smoke"


def test_search_finetune_and_retrain_does_both(tmp_path: Path, cli) -> None:
    result = cli(
        "search", "synthetic-mmoe-routing", "--smoke", "--no-baselines", "--finetune", "1",
        "--retrain", "-q", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    search = tmp_path / SMOKE / "synthetic-mmoe-routing-s0" / "search"
    record = json.loads((search / "metrics.json").read_text())
    assert record["derive"] == "both"
    assert record["finetuned"]["epochs"] == 1 and record["retrained"]["epochs"] == 2
    assert all((search / d / "best.pt").is_file() for d in ("finetune", "retrain"))
    assert "finetuned:" in result.stdout and result.stdout.count("retrained:") == 1


def test_finetune_on_a_partition_search_is_refused_by_name(cli) -> None:
    result = cli("search", "multimnist-partition", "--smoke", "--finetune", "1", "--retrain")
    assert result.returncode == 2
    assert "--finetune and --retrain apply to the one-shot searches" in result.stderr


def test_datasets_fetch_nyuv2_without_a_copy_says_where_to_put_it(cli, tmp_path: Path) -> None:
    result = cli("datasets", "fetch", "nyuv2")
    assert result.returncode == 2
    assert "not shipped" in result.stderr and "data.data_dir" in result.stderr
    assert "cached" not in result.stdout + result.stderr


def test_datasets_fetch_checks_the_files_exist_afterwards(cli, monkeypatch) -> None:
    from sharenas.data.multimnist import MultiMnist

    monkeypatch.setattr(MultiMnist, "fetch", lambda self: None)  # a fetch that writes nothing
    result = cli("datasets", "fetch", "multimnist")
    assert result.returncode == 2 and "the fetch ended but its files are not in" in result.stderr


def test_generated_datasets_are_not_called_cached(cli) -> None:
    fetched = cli("datasets", "fetch", "synthetic-mmoe")
    assert fetched.returncode == 0 and "generated from the seed" in fetched.stdout
    listed = cli("datasets", "list").stdout
    rows = {line.split("│")[1].strip(): line for line in listed.splitlines() if "│" in line}
    assert "generated on demand" in rows["synthetic-mmoe"]
    assert "generated on demand" in rows["synthetic-groups"]
    assert "│ no " in rows["multimnist"] and "│ no " in rows["nyuv2"]  # the test's empty cache


PARTITION = """\
data: {name: synthetic-mmoe, train_size: 200, val_size: 64, test_size: 64}
model: {backbone: {name: mlp, widths: [8, 8]}}
train: {epochs: 1, batch_size: 64, threads: 1}
search:
  space: partition
  partition: {stages: [0, 1]}
  evaluation: {evaluator: distill, distill_steps: 2, distill_batch: 16}
  study: {trials: 2, population: 2}
"""


def test_evaluate_and_predict_take_a_partition_searchs_folders(cli, tmp_path: Path) -> None:
    config = tmp_path / "partition.yaml"
    config.write_text(PARTITION)
    out = tmp_path / "s"
    assert cli("search", config, "--out", out, "--no-baselines", "-q").returncode == 0
    chosen = cli("evaluate", out / "search" / "model", "--format", "csv")
    assert chosen.returncode == 0, chosen.stderr
    for given in (out / "search", out):  # the search folder and the session folder
        result = cli("evaluate", given, "--format", "csv")
        assert result.returncode == 0, result.stderr
        assert result.stdout == chosen.stdout
    rows = tmp_path / "rows.csv"
    rows.write_text(",".join(f"x{i}" for i in range(100)) + "\n" + ",".join(["0.5"] * 100) + "\n")
    predicted = cli("predict", out / "search", rows)
    assert predicted.returncode == 0, predicted.stderr
    assert predicted.stdout.splitlines()[0].split(",") == ["task1", "task2"]


def test_a_partition_front_without_a_trained_point_says_how_to_train_it(
    cli, tmp_path: Path
) -> None:
    search = tmp_path / "search"
    search.mkdir()
    (search / "config.yaml").write_text("data: {name: synthetic-mmoe}\n")
    (search / "front.json").write_text("[]")
    result = cli("evaluate", search)
    assert result.returncode == 2 and "--arch" in result.stderr and "not trained" in result.stderr


def test_a_smoke_command_runs_twice_and_says_it_is_smoke(cli, tmp_path: Path) -> None:
    for _ in range(2):
        trained = cli("train", "synthetic-mmoe", "--smoke", "-q", cwd=tmp_path)
        assert trained.returncode == 0, trained.stderr
        assert "Smoke run (2 epochs of 2 batches on 128 rows" in trained.stdout
    for _ in range(2):
        searched = cli("search", "synthetic-mmoe-routing", "--smoke", "--no-baselines", "-q",
                       cwd=tmp_path)  # fmt: skip
        assert searched.returncode == 0, searched.stderr
        assert "Smoke run" in searched.stdout
    report = tmp_path / SMOKE / "synthetic-mmoe-routing-s0" / "report.md"
    assert report.read_text().startswith("# Smoke run (2 epochs of 2 batches on 128 rows")
    compared = cli("report", SMOKE / "synthetic-mmoe-mmoe-s0", "--out", "r", cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert (tmp_path / "r" / "report.md").read_text().startswith("# Smoke run")


def test_a_real_run_under_runs_smoke_is_never_replaced(cli, tmp_path: Path) -> None:
    real = SMOKE / "synthetic-mmoe-mmoe-s0"
    tiny = ["--set", "data.limit=64", "--set", "train.epochs=1", "-q"]
    assert cli("train", "synthetic-mmoe", "--out", real, *tiny, cwd=tmp_path).returncode == 0
    before = (tmp_path / real / "metrics.json").read_text()
    again = cli("train", "synthetic-mmoe", "--smoke", "-q", cwd=tmp_path)
    assert again.returncode == 2 and "already holds a finished run" in again.stderr
    assert (tmp_path / real / "metrics.json").read_text() == before


def test_an_unknown_arch_is_refused_before_the_data_load(cli, monkeypatch) -> None:
    from sharenas.data.builder import DatasetBuilder

    def never(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the data were loaded")

    monkeypatch.setattr(DatasetBuilder, "load", never)
    for args, source in (
        (["--arch", "mmeo"], "--arch: unknown architecture 'mmeo'. Did you mean 'mmoe'?"),
        (["--set", "model.arch=mmeo"], "--set model.arch=mmeo: unknown architecture 'mmeo'"),
    ):
        result = cli("train", "synthetic-mmoe", *args)
        assert result.returncode == 2 and source in result.stderr, result.stderr


def test_a_bad_set_value_is_blamed_on_the_set_option(cli, tmp_path: Path) -> None:
    result = cli("train", "synthetic-mmoe", "--set", "seed=1", "--set", "train.epochs=abc")
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid --set train.epochs=abc (applied to ")
    assert "--set seed=1" not in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {name: synthetic-mmoe}\ntrain: {epochs: abc}\n")
    file_fault = cli("train", bad, "--set", "seed=1")
    assert file_fault.returncode == 2 and file_fault.stderr.startswith(f"error: invalid {bad}")
