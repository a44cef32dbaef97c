"""Hostile and careless input through the CLI: every case exits 2 with a message naming the thing,
prints no traceback, runs no code from the input and leaves the files it was given unchanged.
The commands run through the console script's entry point in this process (the ``cli`` fixture):
an uncaught exception there fails the test outright, and a payload that ran would touch its
marker file all the same."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TRAIN = (
    "data: {name: synthetic-mmoe, train_size: 256, val_size: 64, test_size: 64, dim: 8}\n"
    "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8, 8]}}\n"
    "train: {epochs: 2, batch_size: 32, threads: 1}\n"
)


class Payload:
    """Unpickling this runs ``touch MARKER``: what a hostile file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def digest(folder: Path) -> dict[str, str]:
    """Every file of ``folder`` (lock file aside) by its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def refused(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for name in names:
        assert name in result.stderr, (name, result.stderr)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(config, finished run folder), trained once for the module."""
    root = tmp_path_factory.mktemp("finished")
    config = root / "c.yaml"
    config.write_text(TRAIN)
    import sharenas

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHARENAS_DATA", str(root / "cache"))
        patch.setenv("SHARENAS_OFFLINE", "1")
        sharenas.train(config, root / "run", progress=False)
    return config, root / "run"


def copy_run(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    target.mkdir()
    for path in run.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.mark.parametrize("kind", ["best.pt", "checkpoint.pt"])
def test_a_planted_payload_never_runs(finished: tuple[Path, Path], tmp_path: Path, kind: str, cli):
    config, run = finished
    run = copy_run(run, tmp_path)
    marker = tmp_path / "PWNED"
    torch.save({"model": Payload(marker), "epoch": 0}, run / kind)
    before = digest(run)
    if kind == "best.pt":
        result = cli("evaluate", str(run), "-q")
    else:
        result = cli("train", str(config), "--out", str(run), "--resume", "-q")
    refused(result, kind, "refused unread", "posix.system")
    assert not marker.exists()
    assert digest(run) == before


@pytest.mark.parametrize("kind", ["best.pt", "checkpoint.pt"])
def test_a_truncated_file_is_named(finished: tuple[Path, Path], tmp_path: Path, kind: str, cli):
    config, run = finished
    run = copy_run(run, tmp_path)
    (run / kind).write_bytes((run / kind).read_bytes()[:300])
    before = digest(run)
    if kind == "best.pt":
        result = cli("evaluate", str(run), "-q")
    else:
        result = cli("train", str(config), "--out", str(run), "--resume", "-q")
    refused(result, kind, "damaged or truncated")
    assert digest(run) == before


def test_resume_refusals_leave_the_folder_unchanged(
    finished: tuple[Path, Path], tmp_path: Path, cli
):
    config, run = finished
    run = copy_run(run, tmp_path)
    before = digest(run)
    other = cli("train", str(config), "--out", str(run), "--resume", "--arch", "mmoe", "-q")
    refused(other, "started with another config", "model.arch")
    assert digest(run) == before
    missing = cli("train", str(config), "--out", str(tmp_path / "none"), "--resume", "-q")
    refused(missing, "no such folder", "nothing to resume")
    assert not (tmp_path / "none").exists()
    (tmp_path / "empty").mkdir()
    empty = cli("train", str(config), "--out", str(tmp_path / "empty"), "--resume", "-q")
    refused(empty, "nothing to resume")
    assert list((tmp_path / "empty").iterdir()) == []
    folder = cli("train", str(tmp_path), "-q")
    refused(folder, "is a folder, not a config file")


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("edges", [None], "edges[0] is null"),
        ("towers", {"task1": None, "task2": "0@input"}, "towers['task1'] is null"),
        ("layers", [[None]], "layers[0][0] is null"),
        ("matrices", [[[1.0, float("nan")], [float("nan"), 1.0]]], "is nan"),
        ("matrices", [[[1.0, float("inf")], [float("inf"), 1.0]]], "is inf"),
        ("edges", [5], "is 5, not a name"),
    ],
)
def test_a_hand_edited_arch_json_is_named(tmp_path: Path, key: str, value: object, shown: str, cli):
    arch = tmp_path / "arch.json"
    space = {"edges": "fusion", "towers": "routing", "layers": "routing"}.get(key, "partition")
    body = {"format": "sharenas-arch/1", "kind": "genotype", "space": space, key: value}
    arch.write_text(json.dumps(body))  # NaN and Infinity are written as json.dumps writes them
    config = tmp_path / "c.yaml"
    config.write_text(TRAIN)
    result = cli("train", str(config), "--arch", str(arch), "--out", str(tmp_path / "r"), "-q")
    refused(result, "arch.json", shown)
    assert not (tmp_path / "r").exists()


def test_inf_in_a_csv_feature_is_named_before_any_folder(tmp_path: Path, cli):
    rows = ["x,y,label,size"] + [f"{i % 7},{i / 3},{i % 2},{i / 7}" for i in range(60)]
    rows[5] = "inf,1.0,0,0.5"
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    config = tmp_path / "c.yaml"
    config.write_text(
        f"data: {{name: tabular-csv, path: {tmp_path / 'd.csv'}, "
        "targets: {label: binary, size: regression}}\n"
        "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n"
        "train: {epochs: 1, batch_size: 16}\n"
    )
    result = cli("train", str(config), "--out", str(tmp_path / "r"), "-q")
    refused(result, "feature column 'x'", "infinite")
    assert not (tmp_path / "r").exists()


def test_a_pickled_mnist_file_cannot_run_code(tmp_path: Path, cli):
    marker = tmp_path / "PWNED"
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as handle:
        pickle.dump((Payload(marker), None, None), handle)
    result = cli("datasets", "fetch", "multimnist", "--data-dir", str(tmp_path), "-q")
    refused(result, "mnist.pkl.gz", "refused unread")
    assert not marker.exists()


def test_a_storage_password_is_never_printed_nor_saved(tmp_path: Path, cli):
    config = tmp_path / "p.yaml"
    config.write_text(TRAIN.replace("arch: hard-sharing, ", "") + "search: {space: partition}\n")
    url = "postgresql://alice:s3cret-pw@127.0.0.1:1/db"
    result = cli("search", str(config), "--storage", url, "--out", str(tmp_path / "s"), "-q")
    refused(result, "search.study.storage", "alice:***@")
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert not (tmp_path / "s").exists()  # the storage is checked before anything else
    shown = cli("config", "show", str(config), "--set", f"search.study.storage={url}")
    assert shown.returncode == 0 and "s3cret-pw" not in shown.stdout
    assert "postgresql://alice@127.0.0.1:1/db" in shown.stdout


def test_a_second_process_on_a_folder_in_use_is_refused(tmp_path: Path, cli):
    """While a process holds a run folder, another one is refused with the holder named; once
    the holder is killed, its stale lock is taken over."""
    from sharenas.runs.lock import folder_lock

    folder = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom sharenas.runs.lock import folder_lock\n"
            f"with folder_lock({str(folder)!r}):\n    print('held', flush=True)\n"
            "    time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        config = tmp_path / "c.yaml"
        config.write_text(TRAIN)
        result = cli("train", str(config), "--out", str(folder), "-q")
        refused(result, "is in use by", f"pid {holder.pid}")
        search = tmp_path / "s.yaml"
        search.write_text(
            TRAIN.replace("arch: hard-sharing, ", "") + "search: {space: partition}\n"
        )
        result = cli("search", str(search), "--out", str(folder), "-q")
        refused(result, "is in use by", f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(folder):  # the killed holder's lock is stale: taken over
        assert json.loads((folder / ".lock").read_text())["pid"] == os.getpid()


def test_pinned_package_files_are_verified_before_use(tmp_path: Path, monkeypatch):
    """A package-index file is hashed before anything opens it; a tampered one is deleted."""
    from sharenas.data.package_index import download_verified
    from sharenas.errors import ChecksumError

    project = tmp_path / "index" / "some-pkg"
    project.mkdir(parents=True)
    archive = tmp_path / "some_pkg-1.0.tar.gz"
    archive.write_bytes(b"not what was pinned")
    (project / "index.html").write_text(f'<a href="{archive.as_uri()}">some_pkg-1.0.tar.gz</a>')
    monkeypatch.setenv("SHARENAS_PACKAGE_INDEX", (tmp_path / "index").as_uri())
    page = (project / "index.html").as_uri()
    monkeypatch.setattr("sharenas.data.package_index.project_page", lambda _: page)
    (tmp_path / "get").mkdir()
    with pytest.raises(ChecksumError, match="deleted unopened"):
        download_verified("some-pkg", "some_pkg-1.0.tar.gz", "0" * 64, tmp_path / "get")
    assert list((tmp_path / "get").iterdir()) == []
    good = hashlib.sha256(archive.read_bytes()).hexdigest()
    path = download_verified("some-pkg", "some_pkg-1.0.tar.gz", good, tmp_path / "get")
    assert path.read_bytes() == archive.read_bytes()


@pytest.mark.parametrize("damage", ["payload", "truncated"])
def test_a_damaged_cached_teacher_is_trained_again(tmp_path: Path, damage: str):
    """The cached partition teachers carry checksums: a planted payload or a truncated file
    fails them, so the teachers are trained again and the payload never runs."""
    from sharenas.data import create_dataset
    from sharenas.runs.partition_eval import load_teachers, teacher_folder
    from tests.test_partition_search import partition_config

    config = partition_config(trials=2)
    data = create_dataset(config.data).load()
    load_teachers(config, data)
    weights = teacher_folder(config) / "best.pt"
    marker = tmp_path / "PWNED"
    if damage == "payload":
        torch.save({"model": Payload(marker), "epoch": 0}, weights)
    else:
        weights.write_bytes(weights.read_bytes()[:200])
    model = load_teachers(config, data)
    assert not marker.exists()
    assert sum(p.numel() for p in model.parameters()) > 0
    assert torch.load(weights, weights_only=True)["model"]  # a good file again


def test_a_payload_in_a_search_checkpoint_never_runs(tmp_path: Path, cli):
    """The supernet's checkpoint, read by ``search --resume``, is refused like a run's."""
    config = tmp_path / "s.yaml"
    config.write_text(TRAIN.replace("arch: hard-sharing, ", "") + "search: {fusion: {}}\n")
    out = tmp_path / "out"
    done = cli("search", str(config), "--out", str(out), "--no-baselines", "-q")
    assert done.returncode == 0, done.stderr
    marker = tmp_path / "PWNED"
    torch.save({"model": Payload(marker), "epoch": 0}, out / "search/supernet/checkpoint.pt")
    before = digest(out)
    again = cli("search", str(config), "--out", str(out), "--no-baselines", "--resume", "-q")
    refused(again, "supernet/checkpoint.pt", "refused unread")
    assert not marker.exists()
    assert digest(out) == before


def test_a_search_folder_of_the_earlier_layout_is_named(tmp_path: Path, cli):
    config = tmp_path / "s.yaml"
    config.write_text(TRAIN.replace("arch: hard-sharing, ", "") + "search: {fusion: {}}\n")
    (tmp_path / "out" / "search").mkdir(parents=True)
    (tmp_path / "out" / "search" / "search_checkpoint.pt").write_bytes(b"old")
    result = cli("search", str(config), "--out", str(tmp_path / "out"), "--resume", "-q")
    refused(result, "earlier sharenas", "search_checkpoint.pt", "another --out")
