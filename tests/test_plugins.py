"""Your own dataset from the command line: a package that declares a 'sharenas.datasets' entry
point, or a module the config names (data.module), works in every command and in partition
worker processes; tabular-csv's log1p option. The commands run through the console script's
entry point in this process (the ``cli`` fixture), each with the plugin state of a fresh process
(:func:`fresh_process_plugins`); the partition workers are processes of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sharenas.errors import DatasetError

DATASET = """
import torch
from typing import Literal
from sharenas import DatasetBuilder, DatasetConfig, InputSpec, MultiTaskDataset, TaskSetData
from sharenas import TaskKind, TaskSpec, register_dataset


class ToyConfig(DatasetConfig):
    name: Literal["{name}"] = "{name}"
    rows: int = 96


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


def install_plugin(tmp_path: Path) -> dict[str, str]:
    """A tiny package declaring the entry point, pip-installed into its own target folder; the
    environment that puts it on the path (as an installed package is)."""
    package = tmp_path / "toy-plugin"
    package.mkdir()
    (package / "toy_data.py").write_text(DATASET.format(name="toy-rows"))
    (package / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "toy-plugin"
            version = "0.1"
            [project.entry-points."sharenas.datasets"]
            toy = "toy_data"
            [tool.setuptools]
            py-modules = ["toy_data"]
            """
        )
    )
    site = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
    subprocess.run(
        [*pip, "--no-build-isolation", "--target", str(site), str(package)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


TOY_MODULES = ("toy_data", "my_data")


@contextmanager
def fresh_process_plugins(*folders: Path) -> Iterator[None]:
    """This process's plugin state as a fresh process has it, ``folders`` on its path (as
    $PYTHONPATH puts them there): no entry-point group loaded yet, the dataset registry holding
    sharenas's own datasets only, the toy modules not imported (so not allowed because imported);
    all restored after."""
    from sharenas import plugins
    from sharenas.data import registry

    own = {k: v for k, v in registry._REGISTRY.items() if v.__module__.startswith("sharenas.")}
    with pytest.MonkeyPatch.context() as patch:
        for folder in folders:
            patch.syspath_prepend(str(folder))
        patch.setattr(plugins, "_loaded", set())
        patch.setattr(registry, "_REGISTRY", own)
        for name in TOY_MODULES:
            patch.delitem(sys.modules, name, raising=False)
        try:
            yield
        finally:
            for name in TOY_MODULES:
                sys.modules.pop(name, None)


def test_an_installed_plugin_dataset_works_in_every_command(tmp_path: Path, cli) -> None:
    env = install_plugin(tmp_path)
    site = tmp_path / "site"

    def sharenas(*args: str, env: dict[str, str] | None = None):
        with fresh_process_plugins(*([site] if env else [])):
            return cli(*args, env=env)

    listed = sharenas("datasets", "list", env=env)
    assert listed.returncode == 0 and "toy-rows" in listed.stdout
    config = tmp_path / "toy.yaml"
    config.write_text(
        "data: {name: toy-rows, rows: 96}\n"
        "model: {backbone: {name: mlp, widths: [8, 8]}}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
        "search:\n  space: partition\n  partition: {stages: [0, 1]}\n"
        "  evaluation: {evaluator: distill, distill_steps: 3, distill_batch: 16}\n"
        "  study: {trials: 3, population: 2, workers: 2}\n"
    )
    trained = sharenas(
        "train", str(config), "--arch", "mmoe", "--out", str(tmp_path / "t"), env=env
    )
    assert trained.returncode == 0, trained.stderr
    shown = sharenas("evaluate", str(tmp_path / "t"), "--format", "json", env=env)
    assert shown.returncode == 0, shown.stderr
    rows = pd.DataFrame(np.ones((3, 4)), columns=["w", "x", "y", "z"])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    predicted = sharenas("predict", str(tmp_path / "t"), str(tmp_path / "rows.csv"), env=env)
    assert predicted.returncode == 0 and predicted.stdout.startswith("a,b"), predicted.stderr
    searched = sharenas("search", str(config), "--out", str(tmp_path / "p"), "-q", env=env)
    assert searched.returncode == 0, searched.stderr  # two worker processes found it too
    trials = json.loads((tmp_path / "p" / "search" / "trials.json").read_text())
    assert sum(t["state"] == "COMPLETE" for t in trials) == 3
    unknown = sharenas("train", str(config))  # without the package: a clear error
    assert unknown.returncode == 2 and "sharenas.datasets" in unknown.stderr


def test_a_module_named_in_the_config_registers_a_dataset(tmp_path: Path, cli) -> None:
    folder = tmp_path / "code"
    folder.mkdir()

    def sharenas(*args: str, env: dict[str, str]):
        with fresh_process_plugins(folder):
            return cli(*args, env=env)

    (folder / "my_data.py").write_text(DATASET.format(name="toy-module"))
    config = tmp_path / "m.yaml"
    config.write_text(
        "data: {module: my_data, name: toy-module}\n"
        "model: {backbone: {name: mlp, widths: [8]}}\n"
        "train: {epochs: 1, batch_size: 32, threads: 1}\n"
        "search: {space: routing, routing: {experts: 2}, baselines: [single-task]}\n"
    )
    env = {"PYTHONPATH": os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])}
    searched = sharenas("search", str(config), "--out", str(tmp_path / "s"), "-q", env=env)
    assert searched.returncode == 0, searched.stderr
    shown = sharenas("config", "show", str(config), env=env)
    assert shown.returncode == 0 and "module: my_data" in shown.stdout
    config.write_text(config.read_text().replace("my_data", "no_such_module"))
    bad = sharenas("train", str(config), env=env)
    assert bad.returncode == 2 and "data.module='no_such_module' cannot be imported" in bad.stderr


def test_tabular_csv_log1p_columns(tmp_path: Path) -> None:
    import sharenas

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "income": rng.lognormal(10, 1, 120).round(2),
            "age": rng.integers(18, 80, 120),
            "city": rng.choice(["a", "b"], 120),
            "y": rng.normal(size=120),
        }
    )
    frame.to_csv(tmp_path / "t.csv", index=False)
    config = {"name": "tabular-csv", "path": tmp_path / "t.csv", "targets": {"y": "regression"}}
    data = sharenas.load_dataset({**config, "log1p": ["income"]})
    columns = {c.name: c for c in data.preprocessing.input.numeric}
    assert columns["income"].log1p and not columns["age"].log1p
    assert abs(columns["income"].mean - np.log1p(frame["income"]).mean()) < 0.5
    with pytest.raises(DatasetError, match="not numeric feature columns"):
        sharenas.load_dataset({**config, "log1p": ["city"]})
