"""Where sharenas may write: the one gate for every folder and file a command writes into.

The rule:

- a **folder** is written into only when it does not exist, is empty (a left lock file aside), or
  is sharenas's own folder of the same kind: it carries the marker :data:`MARKER` (written when
  sharenas starts using the folder, holding its kind: ``run``, ``search``, ``auto``, ``report``,
  ``predictions``, ``seeds``), or, written by an earlier version without one, it looks like one
  (a run's ``config.yaml`` with ``metrics.json`` or ``checkpoint.pt``, a search's ``search/``, an
  auto run's ``auto.json``, ``seed-N/`` folders of those and their report). Any other non-empty
  folder is refused, and so are ``/``, the home folder, the current folder when it is not empty
  and a folder holding one of the command's inputs;
- nothing is written **through a symbolic link** inside a sharenas folder: a folder holding one
  is refused, and a path whose part inside a sharenas folder is a link;
- a **file** a command is told to write (``export --out``, ``predict --out FILE.csv``) is never
  one of its inputs nor one of a sharenas folder's own files (``best.pt``, ``config.yaml``, …),
  and an existing one is replaced only with ``force`` (``--force``).

:func:`check_folder` checks a folder and writes nothing: its marker is written once the folder's
lock is taken (:func:`sharenas.runs.lock.folder_lock` calls :func:`mark_checked`), so a request
refused before that leaves no folder behind. :func:`make_folder` checks, creates and marks a
folder at once (for commands that take no lock: ``report``, ``predict``, ``auto``'s delivery).
:func:`check_file` checks one output file; :func:`open_private` opens a folder's own file
(``.lock``) without following a link.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sharenas.cache import write_bytes_atomic
from sharenas.engine.distributed import is_main_process
from sharenas.errors import SharenasError
from sharenas.run_files import ARCH, BEST, CHECKPOINT, CONFIG, HISTORY, INPUTS, LOCK, METRICS

MARKER = ".sharenas"  # in every folder sharenas made: {"format": ..., "kind": ...}
MARKER_FORMAT = "sharenas-folder/1"
KINDS = ("run", "search", "auto", "report", "predictions", "seeds")
RUN_FILES = frozenset({CONFIG, ARCH, INPUTS, BEST, CHECKPOINT, HISTORY, METRICS})
OWN_FILES = frozenset(  # a sharenas folder's own files: never replaced by an output file
    {
        *RUN_FILES,
        LOCK,
        MARKER,
        "auto.json",
        "seed-runs.json",
        "checksums.json",
        "report.md",
        "report.png",
        "report.svg",
    }
)
NEW_OUT = "choose an empty or new --out"
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_checked: dict[Path, str | None] = {}  # folder → the kind its marker gets once it is locked


class OutPathError(SharenasError):
    """A folder or file sharenas will not write into (not its own, an input, a link)."""


def _refused(path: Path | str, why: str, fix: str = NEW_OUT) -> OutPathError:
    return OutPathError(f"{path}: {why}; {fix}.")


def _key(path: Path) -> Path:
    return Path(os.path.realpath(path))


def data_inputs(config: Any) -> list[Path]:
    """The files and folders a config's data section names (``data.path``, ``data.data_dir``)."""
    return [value for _, value in config.data if isinstance(value, Path) and os.path.lexists(value)]


def run_inputs(folder: Path) -> list[Path]:
    """The files a model is loaded from (``predict``, ``export``): never written over."""
    return [Path(folder) / name for name in (CONFIG, ARCH, INPUTS, BEST, METRICS)]


# ---------------------------------------------------------------- what a folder is


def _read_marker(path: Path) -> str:
    """The kind a marker records; a clear error for a link or a file sharenas did not write."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP or os.path.islink(path):
            raise _refused(path, "is a symbolic link, not a marker sharenas wrote") from None
        raise _refused(path, f"unreadable ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refused(path, "is not a file sharenas wrote")
        text = os.read(fd, 4096)
    finally:
        os.close(fd)
    try:
        kind = json.loads(text.decode()).get("kind")
    except (ValueError, UnicodeDecodeError, AttributeError):
        kind = None
    if kind not in KINDS:
        raise _refused(
            path,
            "is not a marker sharenas wrote",
            f"remove it if the folder is a sharenas folder of yours, or {NEW_OUT}",
        )
    return str(kind)


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _sharenas_config(path: Path) -> bool:
    """Whether ``path`` reads as a config sharenas recorded: top-level ``data:``, ``model:`` and
    ``train:`` keys (looked for in the text, not parsed: the folder is not trusted yet)."""
    try:
        if path.stat().st_size > 2**20:
            return False
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return False
    return {"data:", "model:", "train:"} <= {line.split(" ", 1)[0] for line in lines}


def _legacy_kind(folder: Path) -> str | None:
    """The kind of a folder an earlier sharenas wrote (no marker), from what it holds."""
    if _is_file(folder / "auto.json"):
        return "auto"
    if (
        _is_file(folder / CONFIG)
        and (_is_file(folder / METRICS) or _is_file(folder / CHECKPOINT))
        and _sharenas_config(folder / CONFIG)
    ):
        return "run"
    inner = folder / "search"
    recorded = (CONFIG, "supernet", "candidates", "search_checkpoint.pt", "search_history.jsonl")
    if inner.is_dir() and not inner.is_symlink() and any((inner / n).exists() for n in recorded):
        return "search"
    names = [n for n in os.listdir(folder) if not _ignorable(folder, n)]
    seeds = [n for n in names if n.startswith("seed-") and n[5:].isdigit()]
    reports = {"report.md", "report.png", "report.svg"}
    if (
        seeds
        and set(names) <= {*seeds, *reports}
        and all(not (folder / n).is_symlink() and folder_kind(folder / n) for n in seeds)
    ):
        return "seeds"  # --seeds: a seed-N folder per seed and the report over them
    return None


def folder_kind(folder: Path) -> str | None:
    """The kind of sharenas folder ``folder`` is (its marker, else what an earlier version's
    folder holds); None when it is not one (or does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    marker = folder / MARKER
    if os.path.lexists(marker):
        return _read_marker(marker)
    return _legacy_kind(folder)


def _ignorable(folder: Path, name: str) -> bool:
    """A left lock file, or a marker being written: a folder holding only these is empty."""
    if name == LOCK:
        return _is_file(folder / name)
    return name.startswith(f".{MARKER}.") and name.endswith(".tmp")


# ---------------------------------------------------------------- the checks


def _refuse_special(shown: Path, where: Path) -> None:
    """``/``, the home folder, and the current folder when it holds anything."""
    real = _key(where)
    if real == Path(real.anchor):
        raise _refused(shown, "is the root of the file system")
    home = os.path.expanduser("~")
    if home not in ("~", "") and real == _key(Path(home)):
        raise _refused(shown, "is your home folder", "choose a new folder inside it as --out")
    if real == _key(Path.cwd()) and any(not _ignorable(real, n) for n in os.listdir(real)):
        raise _refused(
            shown, "is the current folder, which is not empty", "choose a new folder as --out"
        )


def _refuse_links_above(where: Path) -> None:
    """A link at ``where`` or above it, inside a sharenas folder: what is written there would
    land outside it."""
    for path in (where, *where.parents):
        if os.path.islink(path) and folder_kind(path.parent) is not None:
            raise _refused(
                path,
                f"is a symbolic link inside {path.parent}, a sharenas folder; sharenas does not "
                "follow links out of its folders",
                f"replace the link with a folder, or {NEW_OUT}",
            )


def _refuse_links_inside(folder: Path) -> None:
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in (*dirs, *files):
            path = Path(root) / name
            if path.is_symlink():
                raise _refused(
                    path,
                    f"is a symbolic link inside {folder}, a sharenas folder; sharenas does not "
                    "follow links out of its folders",
                    f"remove the link, or {NEW_OUT}",
                )


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _refuse_inputs(shown: Path, where: Path, inputs: Iterable[Path | str]) -> None:
    real = _key(where)
    for given in inputs:
        if os.path.lexists(given) and _inside(_key(Path(given)), real):
            raise _refused(
                shown,
                f"holds {given}, an input of this command; sharenas never writes over its inputs",
                "choose a new folder as --out",
            )


def check_folder(
    folder: Path | str,
    kind: str,
    inputs: Iterable[Path | str] = (),
    *,
    any_kind: bool = False,
) -> Path:
    """Refuse ``folder`` unless sharenas may write into it as a ``kind`` folder (any sharenas
    folder with ``any_kind``; a report inside a search folder). Writes nothing: the marker is
    written when the folder's lock is taken (:func:`mark_checked`)."""
    assert kind in KINDS, kind
    shown = Path(folder)
    if not is_main_process():  # torchrun: rank 0 checks, locks and marks for every rank
        return shown
    where = Path(os.path.abspath(shown))
    _refuse_links_above(where)
    if not os.path.lexists(where):
        _checked[_key(where)] = kind
        return shown
    if not where.is_dir():
        raise _refused(shown, "is a file, not a folder")
    _refuse_special(shown, where)
    _refuse_inputs(shown, where, inputs)
    lock = where / LOCK
    if os.path.lexists(lock) and not _is_file(lock):
        raise _refused(
            lock,
            "is not the lock file sharenas writes (a link or a folder)",
            f"remove it, or {NEW_OUT}",
        )
    mark: str | None = kind
    if any(not _ignorable(where, name) for name in os.listdir(where)):
        found = folder_kind(where)
        if found is None:
            raise _refused(
                shown,
                f"is not empty and was not made by sharenas (no {MARKER} marker); sharenas "
                "writes only into new, empty or its own folders",
            )
        if found != kind and not any_kind:
            raise _refused(
                shown,
                f"holds a sharenas {found} folder, not a {kind} folder; writing the {kind} "
                "there would replace its files",
            )
        _refuse_links_inside(where)
        mark = None if os.path.lexists(where / MARKER) or found != kind else kind
    _checked[_key(where)] = mark
    return shown


def _write_marker(folder: Path, kind: str) -> None:
    record = {"format": MARKER_FORMAT, "kind": kind}
    write_bytes_atomic(folder / MARKER, (json.dumps(record) + "\n").encode())


def mark_checked(folder: Path | str) -> None:
    """Write the marker of a folder :func:`check_folder` accepted (once it is locked and
    exists); nothing for a folder that was not checked or already has one."""
    key = _key(Path(folder))
    kind = _checked.pop(key, None)
    if kind is not None and key.is_dir() and not os.path.lexists(key / MARKER):
        _write_marker(key, kind)


def make_folder(
    folder: Path | str,
    kind: str,
    inputs: Iterable[Path | str] = (),
    *,
    any_kind: bool = False,
) -> Path:
    """:func:`check_folder`, then the folder created (with its parents) and marked."""
    shown = check_folder(folder, kind, inputs, any_kind=any_kind)
    shown.mkdir(parents=True, exist_ok=True)
    mark_checked(shown)
    return shown


def check_file(path: Path | str, *, force: bool = False, inputs: Iterable[Path | str] = ()) -> Path:
    """Refuse writing ``path`` when it is one of ``inputs`` or a sharenas folder's own file, a
    link or a folder, or exists without ``force``."""
    shown = Path(path)
    where = Path(os.path.abspath(shown))
    _refuse_links_above(where.parent)
    if where.is_symlink():
        raise _refused(
            shown,
            "is a symbolic link; sharenas does not write through links",
            "remove it, or choose another --out",
        )
    if where.is_dir():
        raise _refused(shown, "is a folder", "name a file as --out, or choose another --out")
    exists = os.path.lexists(where)
    for given in inputs:
        if exists and os.path.lexists(given) and os.path.samefile(where, given):
            raise _refused(
                shown,
                "is an input of this command; sharenas never writes over its inputs "
                "(--force does not change that)",
                "choose another --out",
            )
    kind = folder_kind(where.parent)
    if kind is not None and where.name in OWN_FILES:
        raise _refused(
            shown,
            f"is a file of the sharenas {kind} folder {where.parent}, which an output never "
            "replaces (--force does not change that)",
            "choose another --out",
        )
    if exists and not force:
        raise _refused(
            shown, "already exists", "pass --force to replace it, or choose another --out"
        )
    return shown


def open_private(path: Path | str) -> int:
    """A folder's own file (``.lock``) opened for reading and writing, created if missing,
    never through a link: a link, a folder, a special or hard-linked file is refused."""
    path = Path(path)
    fix = "remove it (sharenas makes it again), or choose another --out"
    if path.is_symlink():
        raise _refused(path, "is a symbolic link; sharenas does not follow links there", fix)
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refused(
                path, "is a symbolic link; sharenas does not follow links there", fix
            ) from None
        if exc.errno == errno.EISDIR:
            raise _refused(path, "is a folder, not the file sharenas writes", fix) from None
        raise
    info = os.fstat(fd)
    why = (
        "is not a regular file"
        if not stat.S_ISREG(info.st_mode)
        else "has other names (a hard link); writing it would change another file"
        if info.st_nlink > 1
        else None
    )
    if why is not None:
        os.close(fd)
        raise _refused(path, why, fix)
    if getattr(os, "O_NONBLOCK", 0):
        os.set_blocking(fd, True)
    return fd
