"""Verified caches of arrays.

:func:`verified_npz`: a fetched dataset's raw arrays in one ``.npz``, checked against a pinned
checksum of the arrays on every load.

:func:`cached_arrays`: generated arrays (canvases, scenes, encoded tables), stored as ``.npy``
files in a folder named by a hash of everything that determines them (generator version,
parameters, seed, source checksums). A manifest records each file's SHA-256; a file that is
missing, truncated or altered is detected on load and the arrays are rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sharenas.cache import atomic_path, file_lock, sha256_arrays, sha256_file, write_json_atomic
from sharenas.errors import ChecksumError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


def _read_npz(path: Path, keys: tuple[str, ...], sha256: str) -> dict[str, np.ndarray] | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in keys}
        if sha256_arrays(arrays) != sha256:
            raise ChecksumError(f"{path}: arrays do not match their pinned checksum")
        return arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, ChecksumError):
        return None  # truncated or altered: fetched again, never used


def verified_npz(
    path: Path,
    keys: tuple[str, ...],
    sha256: str,
    fetch: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` cached at ``path`` when they match ``sha256`` (of
    :func:`~sharenas.cache.sha256_arrays`); otherwise ``fetch()`` (which verifies them) under a
    file lock, written atomically."""
    arrays = _read_npz(path, keys, sha256)
    if arrays is not None:
        return arrays
    with file_lock(path.parent / f".{path.stem}.lock"):
        arrays = _read_npz(path, keys, sha256)  # another process may have fetched it meanwhile
        if arrays is None:
            arrays = fetch()
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, **arrays)
    return arrays


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _read_verified(folder: Path, key: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of ``folder`` when its manifest was written for ``key`` and every file matches
    its checksum (a folder copied over another's is rebuilt, not read as this key's)."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("key") != json.loads(json.dumps(key, sort_keys=True, default=str)):
            log.warning("cache %s was built for another request; rebuilding", folder)
            return None
        arrays = {}
        for name, digest in manifest["files"].items():
            if not isinstance(name, str) or Path(name).name != name:
                raise ValueError(f"a file name that is not a plain name: {name!r}")
            path = folder / f"{name}.npy"
            if sha256_file(path) != digest:
                log.warning("cached file %s fails its checksum; rebuilding", path)
                return None
            arrays[name] = np.load(path, allow_pickle=False)
        return arrays
    except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError) as exc:
        log.warning("cache %s is unreadable (%s); rebuilding", folder, exc)
        return None


def cached_arrays(
    folder: Path, key: dict[str, Any], build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """The arrays for ``key``, built once and then read back (verified) from ``folder``."""
    target = folder / key_digest(key)
    arrays = _read_verified(target, key)
    if arrays is not None:
        return arrays
    with file_lock(folder / f".{target.name}.lock"):
        arrays = _read_verified(target, key)  # another process may have built it meanwhile
        if arrays is not None:
            return arrays
        arrays = build()
        digests = {}
        for name, array in arrays.items():
            path = target / f"{name}.npy"
            with atomic_path(path) as tmp, open(tmp, "wb") as handle:
                np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
            digests[name] = sha256_file(path)
        recorded = json.loads(json.dumps(key, sort_keys=True, default=str))
        write_json_atomic(target / MANIFEST, {"key": recorded, "files": digests})
    return arrays


def is_built(folder: Path, key: dict[str, Any]) -> bool:
    return (folder / key_digest(key) / MANIFEST).exists()
