"""Where fetched and generated data live, and how files are written there safely.

The cache root is ``$SHARENAS_DATA`` when set, else the platform's user cache folder
(``$XDG_CACHE_HOME/sharenas`` or ``~/.cache/sharenas`` on Linux). Every file is written to a
temporary name in the same folder and renamed into place, so a killed process never leaves a
half-written file under its final name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sharenas.errors import DatasetError

ENV_VAR = "SHARENAS_DATA"


def _default_file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _default_file_mode()  # mkstemp creates 0600 files; cached files follow the umask


def cache_root() -> Path:
    """The folder under which every dataset is cached."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "sharenas"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_arrays(arrays: dict[str, np.ndarray]) -> str:
    """Hex SHA-256 of named arrays: names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(array.data)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``path`` (ending in ``suffix``, for writers that insist
    on an extension); rename it onto ``path`` if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, FILE_MODE)
        _fsync(tmp_path)
        os.replace(tmp_path, path)
        _fsync(path.parent)
    finally:
        tmp_path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush ``path`` (a file, or a folder's entries after a rename) to disk, so that a power
    loss after the rename never leaves an empty file under the final name."""
    flags = os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() and hasattr(os, "O_DIRECTORY") else 0)
    try:
        fd = os.open(path, flags)
    except OSError:  # folders cannot be opened on Windows; nothing to flush there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_manifest(folder: Path, names: list[str], manifest: str = "checksums.json") -> None:
    """Record the SHA-256 of ``folder``'s files ``names`` (a derived cache, e.g. a teacher)."""
    sums = {name: sha256_file(folder / name) for name in names}
    write_json_atomic(folder / manifest, sums)


def manifest_ok(folder: Path, manifest: str = "checksums.json") -> bool:
    """Whether every file the manifest lists is there with its recorded SHA-256."""
    try:
        sums = json.loads((folder / manifest).read_text())
        return isinstance(sums, dict) and all(
            sha256_file(folder / name) == digest for name, digest in sums.items()
        )
    except (OSError, ValueError):
        return False


def _open_lock_file(path: Path) -> int:
    """A lock file opened without following a link: a link planted in the cache never gets a
    file elsewhere created or locked."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if os.path.islink(path) or os.path.isdir(path):
            what = "a symbolic link" if os.path.islink(path) else "a folder"
            raise DatasetError(
                f"{path}: the cache's lock file is {what}; remove it and run the command again."
            ) from None
        raise exc


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (a lock file) so concurrent fetches do not collide."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with os.fdopen(_open_lock_file(path), "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; fetches there are single-process.
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
