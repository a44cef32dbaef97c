"""Atomic checkpoints: written to a temporary file and renamed, so a kill never corrupts one."""

from __future__ import annotations

import json
import pickle
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sharenas.cache import atomic_path, write_bytes_atomic
from sharenas.errors import SharenasError


class CheckpointError(SharenasError):
    """A checkpoint or weights file cannot be used: damaged, not sharenas's, or carrying code."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


# what torch.load raises on a damaged file: the zip reader, or the unpickler part-way through a
# stream with a changed byte (found by tests/test_mutated_folders.py)
DAMAGED = (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, IndexError, KeyError)
DAMAGED += (TypeError, AttributeError, struct.error, MemoryError, RecursionError)


def load_checkpoint(
    path: Path,
    device: torch.device | str = "cpu",
    keys: tuple[str, ...] = (),
    fix: str = "delete it and run again",
) -> dict[str, Any]:
    """A checkpoint's tensors and plain values. Loading never runs code from the file
    (``weights_only``: tensors, containers and numbers only); a damaged file, one carrying other
    objects, or one without ``keys`` is a :class:`CheckpointError` naming the file and ``fix``."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        named = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f" (it names {named.group(1)})" if named else ""
        raise CheckpointError(
            f"{path}: refused unread; it holds objects other than tensors and numbers, which "
            f"could run code{what}. Use only files sharenas wrote; {fix}."
        ) from None
    except DAMAGED as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = text.split(". ")[0][:160]
        raise CheckpointError(
            f"{path}: damaged or truncated, not a readable checkpoint ({reason}); {fix}."
        ) from None
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a sharenas checkpoint (no {missing}); {fix}.")
    return state


def load_weights(
    model: nn.Module, path: Path, device: torch.device | str = "cpu", fix: str = ""
) -> nn.Module:
    """``model`` with the ``model`` weights of ``path`` (a best.pt or checkpoint); a
    CheckpointError when they do not fit the architecture."""
    fix = fix or "the weights do not belong to this run; retrain it"
    state = load_checkpoint(path, device, ("model",), fix)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        reason = str(exc).strip().splitlines()[0][:200]
        raise CheckpointError(f"{path}: weights of another network ({reason}); {fix}.") from None
    return model


def capture(objects: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The state of every named object (anything with ``state_dict``) and of the RNGs."""
    state = {name: obj.state_dict() for name, obj in objects.items()}
    state["rng"] = torch.get_rng_state()
    state["cuda_rng"] = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return {**state, **extra}


def restore(state: dict[str, Any], objects: dict[str, Any]) -> None:
    """Load what :func:`capture` saved back into the same named objects and the RNGs."""
    for name, obj in objects.items():
        obj.load_state_dict(state[name])
    torch.set_rng_state(state["rng"])
    if state.get("cuda_rng") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rewrite a JSON-lines history atomically (a kill never leaves half a line)."""
    text = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    write_bytes_atomic(path, text.encode())
