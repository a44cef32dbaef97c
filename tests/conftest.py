"""Shared fixtures. Unit tests run on generated data in a throw-away cache."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker (and every process it starts) uses one thread, so that two
    workers share the 2 CI cores instead of oversubscribing them."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache and never touches the network sources."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SHARENAS_DATA", str(cache))
    monkeypatch.setenv("SHARENAS_OFFLINE", "1")
    return cache


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the integration tests, filled from the real sources once per test run and
    shared by the xdist workers (fetches into a cache are locked, so two workers never collide)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    cache = root / "real-cache"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def online(real_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHARENAS_DATA", str(real_cache))
    monkeypatch.delenv("SHARENAS_OFFLINE", raising=False)
    return real_cache


@pytest.fixture
def fake_digits() -> tuple[np.ndarray, np.ndarray]:
    """200 synthetic 28×28 'digits': a filled box whose size encodes the label."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, size=200)
    images = np.zeros((200, 28, 28), np.uint8)
    for i, label in enumerate(labels):
        half = 4 + label
        images[i, 14 - half : 14 + half, 14 - half // 2 : 14 + half // 2] = 255
    return images, labels.astype(np.int64)


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the ``sharenas`` command as a user would (a separate process)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "sharenas.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``sharenas ARGS`` through the console script's entry point (``sharenas.cli.main``) in this
    process, answered like :func:`run_cli`: a test that needs no process of its own (no kill, no
    torchrun, no uncaught traceback) is spared the ~5 s of a fresh interpreter importing torch."""
    from sharenas.cli import main

    def run(
        *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            patch.setattr(sys, "argv", ["sharenas", *map(str, args)])
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            if cwd is not None:
                patch.chdir(cwd)
            capsys.readouterr()
            with pytest.raises(SystemExit) as stopped:
                main()
            out, err = capsys.readouterr()
        code = stopped.value.code
        code = 0 if code is None else code if isinstance(code, int) else 1
        return subprocess.CompletedProcess(["sharenas", *map(str, args)], code, out, err)

    return run


def tiny_image_task_set():
    """40 random 16×16 images with a dense and an image-level task (generated, no download)."""
    from sharenas.data.base import InputSpec, MultiTaskDataset, TaskSetData
    from sharenas.tasks import TaskKind, TaskSpec

    tasks = [
        TaskSpec(name="seg", kind=TaskKind.SEGMENTATION, num_classes=3),
        TaskSpec(name="label", kind=TaskKind.CLASSIFICATION, num_classes=4),
    ]
    generator = torch.Generator().manual_seed(0)
    splits = {}
    for split in ("train", "val", "test"):
        x = torch.randint(0, 255, (40, 1, 16, 16), generator=generator, dtype=torch.uint8)
        seg = (x[:, 0] > 128).long() + (x[:, 0] > 200).long()
        label = torch.randint(0, 4, (40,), generator=generator)
        splits[split] = MultiTaskDataset(x, {"seg": seg, "label": label}, tasks)
    return TaskSetData(
        "tiny-images", tasks, InputSpec(kind="image", channels=1, height=16, width=16), splits
    )


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A throwaway PostgreSQL server for this test process (see tests/postgres.py). Skipped where
    PostgreSQL or its driver is missing, unless $SHARENAS_REQUIRE_POSTGRES is set (CI)."""
    import shutil
    import tempfile

    from tests.postgres import driver_installed, postgres_server, server_binaries

    missing = [
        what
        for what, present in (
            ("the PostgreSQL server (Debian: postgresql)", server_binaries() is not None),
            ("its driver (pip install 'sharenas[postgres]')", driver_installed()),
        )
        if not present
    ]
    if missing:
        if os.environ.get("SHARENAS_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL tests need {' and '.join(missing)}")
        pytest.skip(f"needs {' and '.join(missing)}")
    folder = Path(tempfile.mkdtemp(prefix="sharenas-pg-"))
    folder.chmod(0o755)  # the server's user (postgres, under root) must reach its folder
    try:
        with postgres_server(folder / "server") as url:
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """A fresh, empty database on the test server; its URL."""
    from tests.postgres import fresh_database

    return fresh_database(postgres_server_url)
