"""Every shipped config validates, round-trips, and names a loadable task set."""

from pathlib import Path

import pytest

from sharenas.config import dump_config, load_config
from sharenas.data import create_dataset

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.yaml"))


def test_configs_are_shipped() -> None:
    assert {p.stem for p in CONFIGS} >= {
        "multimnist",
        "census-income",
        "mnist-scenes",
        "synthetic-mmoe",
        "census-income-rechub",
        "multimnist-libmtl",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_validates_and_round_trips(path: Path, tmp_path: Path) -> None:
    config = load_config(path)
    builder = create_dataset(config.data)
    assert builder.tasks(), f"{path} declares no task"
    again = tmp_path / "again.yaml"
    again.write_text(dump_config(config))
    assert load_config(again) == config


def test_generated_config_loads_offline() -> None:
    config = load_config(CONFIGS[0].parent / "synthetic-mmoe.yaml", ["data.limit=50"])
    data = create_dataset(config.data).load()
    assert data.sizes() == {"train": 50, "val": 50, "test": 50}
