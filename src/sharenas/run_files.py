"""The names of a run folder's files, in one place: the engine writes some of them (checkpoint,
best weights, history), :mod:`sharenas.runs.folder` owns the rest and every operation on a run
folder. Every JSON file read back from a run folder goes through :func:`read_record`, which
checks it (size, syntax, nesting, kind) and names the file when it is damaged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sharenas.errors import RunFolderError

CONFIG = "config.yaml"  # the resolved config
ARCH = "arch.json"  # the architecture: a hand-designed name or a searched genotype
INPUTS = "inputs.json"  # the task set and its fitted preprocessing
BEST = "best.pt"  # the delivered weights
CHECKPOINT = "checkpoint.pt"  # the last epoch's state, for --resume
HISTORY = "history.jsonl"  # one line per epoch
METRICS = "metrics.json"  # written last: the run is finished
LOCK = ".lock"  # held while a command uses the folder
ARCH_FORMAT = "sharenas-arch/1"  # the arch.json format
MAX_RECORD_BYTES = 256 * 2**20  # no file sharenas writes into a run folder comes near
MAX_DEPTH = 32


def nesting_depth(value: Any, level: int = 0) -> int:
    """How deeply ``value``'s mappings and lists nest (counted no further than MAX_DEPTH + 1):
    a run folder's records and configs nest a few levels; deeper is damaged or hostile."""
    if level > MAX_DEPTH or not isinstance(value, dict | list):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((nesting_depth(item, level + 1) for item in items), default=level + 1)


def _damaged(path: Path, why: str) -> RunFolderError:
    return RunFolderError(
        f"{path}: {why}; the folder is damaged: restore the file from its source, or run the "
        "command again into a new --out."
    )


def read_record(path: Path, kind: type = dict) -> Any:
    """A JSON file of a run folder (``kind``: dict or list), checked before it is used."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_RECORD_BYTES:
            raise _damaged(path, f"{size:,} bytes, far more than sharenas writes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _damaged(path, "missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"unreadable ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _damaged(path, f"not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(value, kind):
        raise _damaged(path, f"holds a {type(value).__name__}, not a {kind.__name__}")
    if nesting_depth(value) > MAX_DEPTH:
        raise _damaged(path, f"nested deeper than {MAX_DEPTH} levels")
    return value


def read_lines(path: Path) -> list[dict[str, Any]]:
    """A JSON-lines file of a run folder (``history.jsonl``), each line a record."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, f"unreadable ({getattr(exc, 'strerror', None) or exc})") from None
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise _damaged(path, f"line {number} is not valid JSON") from None
        if not isinstance(row, dict):
            raise _damaged(path, f"line {number} is not a record")
        rows.append(row)
    return rows
