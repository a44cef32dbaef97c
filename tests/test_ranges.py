"""Numbers and references checked at the boundary, by kind: a config number no key accepts
(NaN, infinity, wider than 64 bits, a seed beyond 2³², a layer of a billion units), a request that
needs more memory than the machine has, a ``--reference`` of another task set or without
primary metrics (refused before anything trains), a ``--seeds`` folder that is not sharenas's,
and the data cache's own files (a lock that is a link, a damaged manifest). Through the command
line where a user meets them: exit 2, the key or file named, no traceback, nothing written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sharenas.cache import file_lock
from sharenas.config import apply_overrides, build_config
from sharenas.data.derived import MANIFEST, cached_arrays, key_digest
from sharenas.errors import ConfigError, DatasetError

CONFIG = (
    "data: {name: synthetic-mmoe, train_size: 64, val_size: 32, test_size: 32, dim: 6}\n"
    "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n"
    "train: {epochs: 1, batch_size: 32, threads: 1}\n"
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


def refused(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, no traceback, every word in the message (rich may wrap long lines)."""
    err = " ".join(result.stderr.split())
    assert result.returncode == 2, err
    assert "Traceback" not in err, err
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("seed=18446744073709551616", "seed"),
        ("seed=9223372036854775808", "seed"),
        ("seed=4294967296", "seed"),
        ("data.seed=99999999999999999999", "data.seed"),
        ("train.weight_decay=.inf", "train.weight_decay"),
        ("train.lr=-.inf", "train.lr"),
        ("train.task_weights={task1: .inf}", "train.task_weights.task1"),
        ("train.task_weights={task1: .nan}", "train.task_weights.task1"),
        ("search.max_flops=.inf", "search.max_flops"),
        ("model.backbone.widths=[1000000000]", "model.backbone.widths[0]"),
        ("model.tower=[100000000]", "model.tower[0]"),
        ("model.experts=100000", "model.experts"),
    ],
)
def test_a_number_no_key_accepts_is_refused_by_its_key(
    setting: str, named: str, config: Path, tmp_path: Path, cli
) -> None:
    result = cli("train", config, "--set", setting, "--out", tmp_path / "o", "-q")
    refused(result, named)
    assert "loss is nan" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_the_python_api_refuses_the_same_numbers() -> None:
    with pytest.raises(ConfigError, match="train.weight_decay.*finite"):
        build_config({"data": {"name": "synthetic-mmoe"}, "train": {"weight_decay": float("inf")}})
    with pytest.raises(ConfigError, match="seed"):
        build_config({"data": {"name": "synthetic-mmoe"}, "seed": 2**64})


def test_a_request_beyond_the_machines_memory_is_an_error_not_a_traceback(
    config: Path, tmp_path: Path, cli
) -> None:
    result = cli("train", config, "--set", "data.dim=100000000", "--out", tmp_path / "o", "-q")
    refused(result, "out of memory", "data.dim")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished single-task run of the config's task set."""
    import sharenas

    root = tmp_path_factory.mktemp("references")
    (root / "c.yaml").write_text(CONFIG.replace("hard-sharing", "single-task"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHARENAS_DATA", str(root / "cache"))
        patch.setenv("SHARENAS_OFFLINE", "1")
        sharenas.train(root / "c.yaml", root / "single", progress=False)
    return root


def test_a_reference_of_another_task_set_is_refused_before_training(
    two_runs: Path, config: Path, tmp_path: Path, cli
) -> None:
    other = tmp_path / "other"
    shutil.copytree(two_runs / "single", other)
    metrics = json.loads((other / "metrics.json").read_text())
    metrics["primary"] = {"clicks": 0.5, "likes": 0.4}
    (other / "metrics.json").write_text(json.dumps(metrics))
    result = cli("train", config, "--reference", other, "--out", tmp_path / "o", "-q")
    refused(result, "--reference", "task1", "clicks")
    assert not (tmp_path / "o").exists()  # refused before anything trained or was written

    del metrics["primary"]
    (other / "metrics.json").write_text(json.dumps(metrics))
    refused(cli("train", config, "--reference", other, "--out", tmp_path / "o", "-q"), "primary")
    (other / "metrics.json").write_text("[1, 2]")
    refused(cli("train", config, "--reference", other, "--out", tmp_path / "o", "-q"), "metrics")
    assert not (tmp_path / "o").exists()

    good = cli("train", config, "--reference", two_runs / "single", "--out", tmp_path / "o", "-q")
    assert good.returncode == 0, good.stderr
    delta = json.loads((tmp_path / "o" / "metrics.json").read_text())["delta_mtl"]
    assert delta is not None and np.isfinite(delta)


def test_seeds_write_only_into_a_new_or_their_own_folder(config: Path, tmp_path: Path, cli) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("precious\n")
    refused(cli("train", config, "--seeds", "0,1", "--out", foreign, "-q"), str(foreign))
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    base = tmp_path / "seeds"
    assert cli("train", config, "--seeds", "0", "--out", base, "-q").returncode == 0
    assert json.loads((base / ".sharenas").read_text())["kind"] == "seeds"
    again = cli("train", config, "--seeds", "0,1", "--out", base, "-q")  # its own: extended
    assert again.returncode == 0, again.stderr
    assert (base / "seed-1" / "metrics.json").exists()


def test_a_cache_lock_that_is_a_link_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    lock = tmp_path / "cache" / ".x.lock"
    lock.parent.mkdir()
    lock.symlink_to(victim)
    with pytest.raises(DatasetError, match="symbolic link"), file_lock(lock):
        pass
    dangling = tmp_path / "cache" / ".y.lock"
    dangling.symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(DatasetError, match="symbolic link"), file_lock(dangling):
        pass
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "elsewhere.txt").exists()


@pytest.mark.parametrize(
    "manifest",
    [
        "[1, 2, 3]",
        '{"key": {"a": 1}, "files": [1]}',
        '{"key": {"a": 1}, "files": {"../../escape": "00"}}',
        '{"key": {"a": 1}, "files": {"x": null}}',
        '"just a string"',
        "{not json",
    ],
)
def test_a_damaged_derived_cache_manifest_is_rebuilt(tmp_path: Path, manifest: str) -> None:
    key = {"a": 1}
    build = lambda: {"x": np.arange(4.0)}  # noqa: E731
    cached_arrays(tmp_path, key, build)
    (tmp_path / key_digest(key) / MANIFEST).write_text(manifest)
    again = cached_arrays(tmp_path, key, build)
    assert np.array_equal(again["x"], np.arange(4.0))
    assert json.loads((tmp_path / key_digest(key) / MANIFEST).read_text())["key"] == key


@pytest.mark.parametrize(
    "text",
    [
        "data: " + "{a: " * 400 + "1" + "}" * 400 + "\n",
        "data: " + "[" * 3000 + "1" + "]" * 3000 + "\n",
    ],
)
def test_a_config_nested_too_deeply_is_refused(text: str, tmp_path: Path, cli) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(text)
    refused(cli("train", path, "--out", tmp_path / "o", "-q"), "deep.yaml", "nested deeper")
    deep = "[" * 2000 + "]" * 2000
    refused(cli("train", path, "--set", f"data.x={deep}", "-q"), "nested deeper")
    with pytest.raises(ConfigError, match="nested deeper"):
        apply_overrides({"data": _nested(100)}, [])


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value
