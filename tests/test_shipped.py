"""Shipped configs: named wherever a config file is asked for, listed, copied out for editing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sharenas.config import load_config
from sharenas.errors import ConfigError
from sharenas.shipped import SHIPPED, config_file, description, shipped_names

REPO = Path(__file__).parent.parent


def test_the_configs_live_in_the_package_and_the_checkout_path_still_reads_them() -> None:
    assert SHIPPED.parent.name == "sharenas"
    assert "synthetic-mmoe" in shipped_names()
    assert sorted(p.name for p in (REPO / "configs").glob("*.yaml")) == sorted(
        p.name for p in SHIPPED.glob("*.yaml")
    )


def test_a_name_reads_the_shipped_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_file("census-income") == SHIPPED / "census-income.yaml"
    assert load_config("synthetic-mmoe", ["seed=3"]).seed == 3


def test_an_existing_path_wins_over_a_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("census-income").write_text("data: {name: synthetic-mmoe}\nseed: 7\n")
    assert load_config("census-income").seed == 7


@pytest.mark.parametrize("given", ["census-incme", "configs2/census-income", "nothing.yaml"])
def test_an_unknown_config_names_the_argument_and_the_list_command(
    given: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="sharenas configs list") as raised:
        config_file(given)
    assert str(raised.value).startswith(given)


def test_every_shipped_config_has_a_one_line_description() -> None:
    for name in shipped_names():
        text = description(SHIPPED / f"{name}.yaml")
        assert text and "\n" not in text and len(text) <= 110, name


def test_configs_list_shows_names_and_descriptions(cli) -> None:
    result = cli("configs", "list", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["name", "description"]
    described = dict(rows[1:])
    assert sorted(described) == shipped_names()
    assert described["census-income"].startswith("UCI Census-Income (KDD)")


def test_configs_copy_writes_once_and_replaces_only_with_force(cli, tmp_path: Path) -> None:
    assert cli("configs", "copy", "synthetic-mmoe", cwd=tmp_path).returncode == 0
    copied = tmp_path / "synthetic-mmoe.yaml"
    assert copied.read_text() == (SHIPPED / "synthetic-mmoe.yaml").read_text()
    copied.write_text("mine")
    again = cli("configs", "copy", "synthetic-mmoe", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert copied.read_text() == "mine"
    assert cli("configs", "copy", "synthetic-mmoe", "--force", cwd=tmp_path).returncode == 0
    assert copied.read_text() != "mine"


def test_configs_copy_to_a_file_or_folder_and_refuses_an_unknown_name(cli, tmp_path: Path) -> None:
    assert cli("configs", "copy", "multimnist", str(tmp_path / "mine.yaml")).returncode == 0
    assert (tmp_path / "mine.yaml").is_file()
    assert cli("configs", "copy", "multimnist", str(tmp_path)).returncode == 0
    assert (tmp_path / "multimnist.yaml").is_file()
    unknown = cli("configs", "copy", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "not a shipped config" in unknown.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml", "multimnist.yaml"]


@pytest.mark.parametrize("group", ["configs", "config"])
def test_show_takes_a_shipped_name_under_both_group_names(cli, group: str) -> None:
    result = cli(group, "show", "census-income", "--set", "seed=4")
    assert result.returncode == 0, result.stderr
    assert "name: census-income" in result.stdout and "seed: 4" in result.stdout


def test_the_old_config_group_is_hidden(cli) -> None:
    shown = cli("--help").stdout
    assert "configs" in shown and "config " not in shown.replace("configs", "")


def test_datasets_show_takes_a_shipped_config_name(cli) -> None:
    result = cli("datasets", "show", "synthetic-mmoe-routing", "--set", "data.limit=40")
    assert result.returncode == 0, result.stderr
    assert "train 40" in result.stdout
