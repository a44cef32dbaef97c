"""Kinds of input that used to end in a traceback now end in a message naming the thing at
fault (exit 2): damaged run-folder files (one reader checks them all), the operating system
refusing a path, budgets that are not numbers, batch norm on batches of one row, and an image
too large, refused before it is decoded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sharenas
from sharenas.errors import ConfigError, DatasetError, RunFolderError
from sharenas.run_files import read_lines, read_record
from tests.test_deploy import table_config


@pytest.mark.parametrize(
    "text, why",
    [
        ("{", "not valid JSON"),
        ("[1, 2]", "holds a list, not a dict"),
        ("[" * 40 + "]" * 40, "holds a list"),
        ('{"a": ' + "[" * 40 + "]" * 40 + "}", "nested deeper"),
        ("\xff\xfe", "unreadable"),
    ],
)
def test_one_reader_checks_every_record_of_a_run_folder(
    tmp_path: Path, text: str, why: str
) -> None:
    path = tmp_path / "metrics.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises(RunFolderError, match=rf"metrics.json: .*{why}.*the folder is damaged"):
        read_record(path)
    with pytest.raises(RunFolderError, match="missing"):
        read_record(tmp_path / "absent.json")
    (tmp_path / "history.jsonl").write_text('{"epoch": 0}\nnot json\n')
    with pytest.raises(RunFolderError, match="line 2 is not valid JSON"):
        read_lines(tmp_path / "history.jsonl")


def test_damaged_files_and_refused_paths_through_the_command(tmp_path: Path, cli) -> None:
    """Through the console script's entry point in this process (the ``cli`` fixture): an
    exception main() did not turn into exit 2 would fail the test outright."""
    config = table_config(tmp_path)
    run = sharenas.train(config, tmp_path / "run", progress=False).folder
    (run / "metrics.json").write_text('{"dataset": ')
    report = cli("report", str(run), "--out", str(tmp_path / "report"))
    assert report.returncode == 2 and "metrics.json" in report.stderr
    assert "Traceback" not in report.stderr
    (tmp_path / "a-file").write_text("x")
    below = cli("train", str(config), "--out", str(tmp_path / "a-file" / "run"))
    assert below.returncode == 2 and "Traceback" not in below.stderr
    assert "a-file" in below.stderr
    long = cli("train", str(config), "--out", str(tmp_path / ("x" * 300)))
    assert long.returncode == 2 and "Traceback" not in long.stderr


def test_budgets_that_are_not_numbers() -> None:
    from sharenas.workflows.auto_plan import parse_budget

    for text in ("1.2.3", "1e999", "-3M", "abc", "nan"):
        with pytest.raises(ConfigError, match="--budget"):
            parse_budget(text, None, None)  # type: ignore[arg-type]
    assert parse_budget("2.5E7", None, None) == (2.5e7, "given")  # type: ignore[arg-type]


def test_batch_norm_on_batches_of_one_row_is_refused_up_front(tmp_path: Path) -> None:
    config = table_config(tmp_path)
    with pytest.raises(ConfigError, match="train.batch_size=1 .* at least 2 rows per batch"):
        sharenas.train(config, tmp_path / "one", overrides=["train.batch_size=1"], progress=False)
    assert not (tmp_path / "one" / "metrics.json").exists()


def test_an_image_is_measured_before_it_is_decoded(tmp_path: Path) -> None:
    from PIL import Image

    from sharenas.data.preprocessing import ImageEncoding
    from sharenas.deploy.inputs import image_folder

    Image.fromarray(np.zeros((3000, 40), np.uint8)).save(tmp_path / "tall.png")
    with pytest.raises(DatasetError, match=r"tall.png: 40×3000 pixels; the model reads 16×16"):
        image_folder(tmp_path, ImageEncoding(channels=1, height=16, width=16))
