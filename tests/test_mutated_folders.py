"""A received run folder, damaged at random (hypothesis): every command that reads one
(``evaluate``, ``report``, ``predict``, ``export``) either succeeds or exits 2 with a message,
never a traceback, and never changes a file of the folder.

The mutations are of the kinds a copy, an editor or an attacker leave: a file deleted, cut short,
a byte changed, a JSON or YAML value replaced by another type, a huge or non-finite number, a
deeply nested value, a foreign key. The commands run in this process (``sharenas.cli.main``)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

CONFIG = (
    "data: {name: synthetic-mmoe, train_size: 64, val_size: 32, test_size: 32, dim: 6}\n"
    "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n"
    "train: {epochs: 1, batch_size: 32, threads: 1}\n"
)
FILES = ("config.yaml", "metrics.json", "arch.json", "inputs.json", "history.jsonl", "best.pt")
COMMANDS = ("evaluate", "report", "predict", "export")


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e-308, 0.0]),
    st.text(max_size=12),
    st.lists(st.integers(-3, 3), max_size=3),
    st.just({"x": {"y": [1, {"z": None}]}}),
    st.just(_nested(40)),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path of a JSON/YAML document (the root included)."""
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*prefix, i))
    return found


def _replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = document
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return document


def _mutate(folder: Path, name: str, how: str, where: float, value: Any) -> None:
    """Apply one mutation to ``folder/name`` (``where`` in [0, 1) picks the place)."""
    path = folder / name
    data = path.read_bytes()
    if how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(data[: int(where * len(data))])
    elif how == "byte":
        i = int(where * len(data))
        path.write_bytes(data[:i] + bytes([(data[i] + 1 + int(where * 254)) % 256]) + data[i + 1 :])
    elif how == "value" and name.endswith((".json", ".yaml")):
        document = json.loads(data) if name.endswith(".json") else yaml.safe_load(data)
        paths = _paths(document)
        document = _replaced(document, paths[int(where * len(paths))], value)
        if name.endswith(".json"):
            path.write_text(json.dumps(document))
        else:
            path.write_text(yaml.safe_dump(document, allow_unicode=True))
    elif how == "value":  # history.jsonl / best.pt: a line or the file replaced by the value
        path.write_text(json.dumps(value) + "\n")


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder and rows to predict, made once for the module."""
    import sharenas

    root = tmp_path_factory.mktemp("mutated")
    (root / "c.yaml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHARENAS_DATA", str(root / "cache"))
        patch.setenv("SHARENAS_OFFLINE", "1")
        sharenas.train(root / "c.yaml", root / "run", progress=False)
    pd.DataFrame({f"x{i}": [0.1 * i, -0.2 * i] for i in range(6)}).to_csv(
        root / "rows.csv", index=False
    )
    return root


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(name="best.pt", how="byte", where=0.0, value=None, command="evaluate")  # found once
@given(
    name=st.sampled_from(FILES),
    how=st.sampled_from(("delete", "truncate", "byte", "value")),
    where=st.floats(min_value=0, max_value=0.999),
    value=VALUES,
    command=st.sampled_from(COMMANDS),
)
def test_a_damaged_run_folder_is_refused_or_read_never_a_traceback_nor_a_change(
    finished: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    how: str,
    where: float,
    value: Any,
    command: str,
) -> None:
    from sharenas.cli import main

    work = tmp_path_factory.mktemp("case")
    run = work / "run"
    shutil.copytree(finished / "run", run)
    _mutate(run, name, how, where, value)
    before = _digest(run)
    args = {
        "evaluate": ["evaluate", str(run), "-q"],
        "report": ["report", str(run), "--out", str(work / "report")],
        "predict": ["predict", str(run), str(finished / "rows.csv"), "--out", str(work / "p.csv")],
        "export": ["export", str(run), "--out", str(work / "model.pt2")],
    }[command]
    monkeypatch.setenv("SHARENAS_DATA", str(finished / "cache"))
    monkeypatch.setenv("SHARENAS_OFFLINE", "1")
    monkeypatch.setattr(sys, "argv", ["sharenas", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main()
    _, err = capsys.readouterr()
    code = stopped.value.code or 0
    event(f"{command} exit {code}")  # pytest --hypothesis-show-statistics: how each ended
    assert code in (0, 2), (name, how, value, command, err[-2000:])
    assert "Traceback" not in err, (name, how, value, command, err[-2000:])
    assert _digest(run) == before, (name, how, value, command)
    if code == 2:
        assert err.strip(), "refused without a message"
