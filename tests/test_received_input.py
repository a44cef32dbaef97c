"""What sharenas receives from others: a run folder never gets code imported because its config
names a module (unless the user allowed it), configs are read with strict types and without
duplicate keys, keys naming tasks name real ones, and a config file's relative data.path is its
own folder's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sharenas.config import build_config, load_config
from sharenas.data import registry
from sharenas.errors import ConfigError, DatasetError
from sharenas.plugins import ALLOW_VARIABLE

PLUGIN = """
import torch
from pathlib import Path
from typing import Literal
from sharenas import DatasetBuilder, DatasetConfig, InputSpec, MultiTaskDataset, TaskSetData
from sharenas import TaskKind, TaskSpec, register_dataset

with open(Path(__file__).parent / "imported.log", "a") as log:
    log.write(__file__ + "\\n")


class ToyConfig(DatasetConfig):
    name: Literal["{name}"] = "{name}"
    rows: int = 64


@register_dataset
class Toy(DatasetBuilder):
    name = "{name}"
    description = "two regressions of 4 numeric columns"
    license = "generated"
    source = "generated"
    config_class = ToyConfig

    def tasks(self):
        return [TaskSpec(name=t, kind=TaskKind.REGRESSION) for t in ("a", "b")]

    def _load(self):
        g = torch.Generator().manual_seed(0)
        spec = InputSpec(kind="tabular", num_numeric=4, numeric_names=("w", "x", "y", "z"))
        splits = {{}}
        for split in ("train", "val", "test"):
            x = torch.randn(self.config.rows, 4, generator=g)
            targets = {{"a": x[:, 0] + x[:, 1], "b": x[:, 0] - x[:, 2]}}
            splits[split] = MultiTaskDataset({{"numeric": x}}, targets, self.tasks())
        return TaskSetData(self.name, self.tasks(), spec, splits)
"""

PAYLOAD = """
from pathlib import Path
(Path(__file__).parent / "ran.txt").write_text("the folder's module ran")
"""


@pytest.fixture
def forget_plugins() -> Iterator[None]:
    """The toy modules and datasets a test registers in this process are forgotten afterwards."""
    datasets = set(registry._REGISTRY)
    yield
    for name in [m for m in sys.modules if m.startswith("toy_")]:
        del sys.modules[name]
    for name in set(registry._REGISTRY) - datasets:
        del registry._REGISTRY[name]


def plugin(folder: Path, module: str, dataset: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(PLUGIN.format(name=dataset))
    return folder / "imported.log"


def received_folder(tmp_path: Path, module: str) -> Path:
    """A run folder from someone else: its config names ``module``."""
    run = tmp_path / "received"
    run.mkdir()
    (run / "config.yaml").write_text(
        f"data: {{name: tabular-csv, module: {module}, path: /x.csv, targets: {{y: binary}}}}\n"
        "model: {arch: hard-sharing}\nsearch: {space: partition}\n"
    )
    return run


def test_a_run_folder_never_imports_the_module_it_names(tmp_path: Path) -> None:
    run = received_folder(tmp_path, "evilmod")
    here = tmp_path / "here"  # the working folder holds the module too (python -m searches it)
    here.mkdir()
    (here / "evilmod.py").write_text(PAYLOAD)
    installed = tmp_path / "site"
    installed.mkdir()
    (installed / "evilmod.py").write_text(PAYLOAD)
    path = os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])
    commands = {  # both as python -m runs them, at once (each takes seconds to start)
        "evaluate": ["sharenas.cli", "evaluate", str(run)],
        "worker": ["sharenas.runs.partition_worker", str(run)],
    }
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=here,
            env={**os.environ, "PYTHONPATH": path},
        )
        for name, command in commands.items()
    }
    for name, process in started.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 2 and "Traceback" not in stderr, (name, stderr)
        assert f"{ALLOW_VARIABLE}=evilmod" in stderr.replace("\n", ""), (name, stderr)
    assert not (here / "ran.txt").exists() and not (installed / "ran.txt").exists()


def test_an_allowed_module_is_imported_but_never_from_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_plugins: None
) -> None:
    from sharenas.runs.folder import load_run

    log = plugin(tmp_path / "site", "toy_allowed", "toy-allowed")
    here = tmp_path / "here"
    here.mkdir()
    (here / "toy_allowed.py").write_text(PAYLOAD)
    (tmp_path / "received").mkdir()
    recorded = {"data": {"name": "toy-allowed", "module": "toy_allowed"}}
    (tmp_path / "received" / "config.yaml").write_text(yaml.safe_dump(recorded))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.chdir(here)
    monkeypatch.setattr(sys, "path", ["", *sys.path])  # as python -m has it
    with pytest.raises(ConfigError, match=f"{ALLOW_VARIABLE}=toy_allowed"):
        load_run(tmp_path / "received")
    assert not log.exists()
    monkeypatch.setenv(ALLOW_VARIABLE, "other, toy_allowed")
    config, _ = load_run(tmp_path / "received")
    assert config.data.name == "toy-allowed" and log.exists()
    assert not (here / "ran.txt").exists()  # the installed one, not the working folder's


def test_search_workers_get_the_allowance_from_their_parent(tmp_path: Path) -> None:
    from sharenas.runs.partition import worker_environment

    data = {"name": "tabular-csv", "module": "json", "path": "x.csv", "targets": {"y": "binary"}}
    config = build_config({"data": data, "search": {"space": "partition"}})
    assert "json" in worker_environment(config, tmp_path)[ALLOW_VARIABLE].split(",")


def test_predict_needs_neither_the_plugin_nor_its_allowance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_plugins: None
) -> None:
    import sharenas
    from sharenas.deploy.predictor import load_model
    from sharenas.runs.training import evaluate_run

    plugin(tmp_path / "site", "toy_gone", "toy-gone")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    config = build_config(
        {
            "data": {"module": "toy_gone", "name": "toy-gone"},
            "model": {"arch": "hard-sharing", "backbone": {"name": "mlp", "widths": [8]}},
            "train": {"epochs": 1, "batch_size": 32, "threads": 1},
        }
    )
    sharenas.train(config, tmp_path / "run", progress=False)
    sys.path.remove(str(tmp_path / "site"))  # the plugin is gone: uninstalled, never sent
    del sys.modules["toy_gone"], registry._REGISTRY["toy-gone"]
    rows = pd.DataFrame(np.ones((3, 4)), columns=["w", "x", "y", "z"])
    predicted = load_model(tmp_path / "run").predict(rows).table()
    assert list(predicted.columns) == ["a", "b"] and len(predicted) == 3
    assert sharenas.load_run(tmp_path / "run").metrics["dataset"] == "toy-gone"
    with pytest.raises(ConfigError, match=ALLOW_VARIABLE):
        evaluate_run(tmp_path / "run")  # the data are needed: the module is refused
    monkeypatch.setenv(ALLOW_VARIABLE, "toy_gone")
    with pytest.raises(ConfigError, match="cannot be imported"):
        evaluate_run(tmp_path / "run")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("data: {name: tabular-csv}\nseed: 1\ndata: {name: multimnist}\n", "'data' is given twice"),
        ("data:\n  name: multimnist\n  name: tabular-csv\n", "(lines 2 and 3)"),
    ],
)
def test_a_key_given_twice_is_refused(tmp_path: Path, text: str, shown: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match="c.yaml") as error:
        load_config(tmp_path / "c.yaml")
    assert shown in str(error.value)
    with pytest.raises(ConfigError, match="given twice"):
        load_config(tmp_path / "c.yaml", ["train={epochs: 1, epochs: 2}"])


@pytest.mark.parametrize(
    ("file", "overrides", "key"),
    [
        ("train: {epochs: true}", [], "train.epochs"),
        ("seed: yes", [], "seed"),
        ("", ["seed=yes"], "seed"),
        ("", ["train.epochs=true"], "train.epochs"),
        ("", ["train.lr=on"], "train.lr"),
        ("", ["train.task_weights={y: true}"], "train.task_weights.y"),
        ("", ["data.split_seed=true"], "data.split_seed"),
    ],
)
def test_a_boolean_is_never_a_number(
    tmp_path: Path, file: str, overrides: list[str], key: str
) -> None:
    (tmp_path / "c.yaml").write_text(
        "data: {name: tabular-csv, path: t.csv, targets: {y: regression}}\n" + file
    )
    with pytest.raises(ConfigError, match=f"{key}: given True: a number is expected"):
        load_config(tmp_path / "c.yaml", overrides)


def test_a_number_is_not_a_name(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {name: tabular-csv, path: t.csv, targets: {y: 1}}\n")
    with pytest.raises(ConfigError, match="data.targets.y"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="quote a name"):
        load_config(tmp_path / "c.yaml", ["data.targets.y=regression", "data.separator=1"])
    with pytest.raises(ConfigError, match=r"given True: Input should be less than 1 \(YAML"):
        load_config(tmp_path / "c.yaml", ["data.targets.y=regression", "data.val_fraction=on"])


def table(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"u": rng.normal(size=60), "v": rng.normal(size=60)})
    frame["y"] = frame["u"] + rng.normal(size=60) * 0.1
    frame["z"] = (frame["v"] > 0).astype(int)
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / "t.csv", index=False)
    (folder / "c.yaml").write_text(
        "data: {name: tabular-csv, path: t.csv, targets: {y: regression, z: binary}}\n"
        "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
    )
    return folder / "c.yaml"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.task_weights={y: 1, why: 2}", "train.task_weights"),
        ("model.task_backbones={zz: {name: mlp}}", "model.task_backbones"),
    ],
)
def test_keys_naming_unknown_tasks_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, override: str, key: str
) -> None:
    import sharenas

    config = table(tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=rf"{key}: .* its tasks are y, z"):
        sharenas.train(config, tmp_path / "run", overrides=[override], progress=False)
    assert not (tmp_path / "run" / "config.yaml").exists()


def test_a_relative_data_path_is_the_config_files_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sharenas
    from sharenas.runs.training import evaluate_run

    config = table(tmp_path / "configs")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    sharenas.train(config, tmp_path / "run", progress=False)
    recorded = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert recorded["data"]["path"] == str(tmp_path / "configs" / "t.csv")
    monkeypatch.chdir(tmp_path)
    assert set(evaluate_run(tmp_path / "run")) == {"y", "z"}  # from any folder
    config.write_text(config.read_text().replace("t.csv", "missing.csv"))
    with pytest.raises(DatasetError, match=str(tmp_path / "configs" / "missing.csv")):
        sharenas.train(config, tmp_path / "run2", progress=False)
    here = load_config(config, ["data.path=t.csv"])  # on the command line: the working folder's
    assert here.data.path == tmp_path / "t.csv"
