"""UCI optical recognition of handwritten digits (Alpaydin & Kaynak, 1998): 1,797 8×8 digits with
values 0–16, the UCI test file ``optdigits.tes``, which scikit-learn bundles as ``load_digits``.

Cached once as ``<cache>/optdigits/optdigits.npz`` and verified against a pinned checksum of the
arrays, whichever source they came from. Sources, in order: ``data_dir`` (``optdigits.tes`` or
``digits.csv.gz``); the UCI file; the scikit-learn wheel's ``sklearn/datasets/data/digits.csv.gz``,
read from the archive (the wheel is platform-specific, so the arrays' checksum is what verifies
it; scikit-learn is never installed or imported).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from sharenas.cache import sha256_arrays
from sharenas.data.derived import verified_npz
from sharenas.data.sources import (
    Archive,
    LocalFolderSource,
    PackageIndexSource,
    Source,
    UrlSource,
    fetch_first,
    verify_sha256,
)

OPTDIGITS_SHA256 = "18680031db4ffc1a9c3864e06f9ca1547af7c2145473c31d38ca664a0b77d7a1"
UCI_FILE = "optdigits.tes"
SKLEARN_FILE = "digits.csv"
CANONICAL = "https://archive.ics.uci.edu/ml/machine-learning-databases/optdigits/optdigits.tes"
FALLBACK = PackageIndexSource(  # any wheel of the release holds the file; this one is pinned
    project="scikit-learn",
    filename="scikit_learn-1.5.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    sha256="f8b0ccd4a902836493e026c03256e8b206656f91fbcc4fde28c57a5b752561f1",
    members={SKLEARN_FILE: "sklearn/datasets/data/digits.csv.gz"},
)
MANUAL_HELP = (
    "download optdigits.tes from the UCI repository (optical recognition of handwritten digits) "
    "into a folder and pass --data-dir FOLDER (config key data.data_dir)."
)

OptdigitsArrays = dict[str, np.ndarray]


def parse_csv(raw: bytes) -> OptdigitsArrays:
    """Rows of 64 pixel counts (0–16) and a label, comma-separated (gzipped or not)."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape[1] != 65:
        raise ValueError(f"expected 65 columns (64 pixels and a label), got {table.shape[1]}")
    return {"x": table[:, :64].astype(np.uint8).reshape(-1, 8, 8), "y": table[:, 64]}


def _verified(name: str):  # type: ignore[no-untyped-def]
    def run(archive: Archive) -> OptdigitsArrays:
        arrays = parse_csv(archive.read(name))
        verify_sha256(sha256_arrays(arrays), OPTDIGITS_SHA256, "optdigits arrays")
        return arrays

    return run


def optdigits_sources(data_dir: Path | None) -> list[tuple[Source, object]]:
    attempts: list[tuple[Source, object]] = []
    if data_dir is not None:
        folder = Path(data_dir)
        attempts.append((LocalFolderSource(folder, (UCI_FILE,)), _verified(UCI_FILE)))
        attempts.append((LocalFolderSource(folder, (SKLEARN_FILE,)), _verified(SKLEARN_FILE)))
    attempts.append((UrlSource("canonical UCI", {UCI_FILE: CANONICAL}), _verified(UCI_FILE)))
    attempts.append((FALLBACK, _verified(SKLEARN_FILE)))
    return attempts


def optdigits_path(root: Path) -> Path:
    return root / "optdigits" / "optdigits.npz"


def load_optdigits(root: Path, data_dir: Path | None = None) -> OptdigitsArrays:
    """The 1,797 optdigits as uint8 8×8 arrays (0–16) and int64 labels, fetched on first use."""
    return verified_npz(
        optdigits_path(root),
        ("x", "y"),
        OPTDIGITS_SHA256,
        lambda: fetch_first("optdigits", optdigits_sources(data_dir), MANUAL_HELP),  # type: ignore[arg-type]
    )
