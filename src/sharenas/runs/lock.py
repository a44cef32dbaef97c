"""One process at a time in a run or search folder.

``folder_lock`` holds an exclusive ``flock`` on ``<folder>/.lock`` while a process works there; the
file names the holder (pid, host, command, start time). A second process is refused with a
:class:`FolderInUseError` naming the holder. The operating system drops the lock when its holder
dies, so the lock of a killed process is stale by construction: the next process takes it over
(and says so). A process may enter the same folder again (re-entrant).

The lock file is opened without following a link (:func:`sharenas.runs.out_folder.open_private`):
a ``.lock`` that is a link, a folder or a hard link is refused before anything is written. Once
the lock is held, the folder gets the marker :func:`sharenas.runs.out_folder.check_folder` chose
for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sharenas.engine.distributed import is_main_process
from sharenas.errors import SharenasError
from sharenas.run_files import LOCK
from sharenas.runs.out_folder import MARKER, mark_checked, open_private

log = logging.getLogger(__name__)

LOCK_FILE = LOCK
_held: dict[Path, tuple[IO[bytes], int]] = {}


class FolderInUseError(SharenasError):
    """Another live process works in the folder."""


def _holder_text(handle: IO[bytes]) -> str:
    handle.seek(0)
    try:
        holder = json.loads(handle.read().decode() or "{}")
    except (ValueError, UnicodeDecodeError):
        return "an unknown process"
    if not holder:
        return "an unknown process"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')} (`{holder.get('command')}`, "
        f"since {holder.get('since')})"
    )


def _acquire(path: Path) -> IO[bytes]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.fdopen(open_private(path), "r+b")  # kept open while the lock is held
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(handle)
        handle.close()
        raise FolderInUseError(
            f"{path.parent} is in use by {holder}; wait for it to finish, stop it, or pass "
            "another --out."
        ) from None
    previous = _holder_text(handle)
    if previous != "an unknown process":
        log.info(
            "%s: taking over the lock of %s, which is no longer running", path.parent, previous
        )
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:200],
        "since": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder).encode())
    handle.flush()
    return handle


def _release(path: Path, handle: IO[bytes]) -> None:
    handle.seek(0)
    handle.truncate()  # an empty lock file: the folder was left cleanly
    handle.close()


def _exempt() -> bool:
    """No lock on Windows, nor in torchrun ranks other than 0 (rank 0 holds it for them)."""
    return sys.platform == "win32" or not is_main_process()


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock for the block. The folder is created for it; when the block fails
    before writing anything else there, the folder it created is removed again."""
    folder = Path(folder).resolve()
    if _exempt():
        yield
        return
    path, created = folder / LOCK_FILE, not folder.exists()
    if path in _held:
        handle, depth = _held[path]
        _held[path] = (handle, depth + 1)
    else:
        _held[path] = (_acquire(path), 1)
    try:
        mark_checked(folder)
        yield
    except BaseException:
        left = {p.name for p in folder.iterdir()}
        if created and left <= {LOCK_FILE, MARKER}:  # nothing written: no folder left behind
            for name in left:
                (folder / name).unlink()
            folder.rmdir()
        raise
    finally:
        handle, depth = _held[path]
        if depth == 1:
            del _held[path]
            _release(path, handle)
        else:
            _held[path] = (handle, depth - 1)
