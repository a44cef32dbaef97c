"""Atomic checkpoints: written to a temporary file and renamed, so a kill never corrupts one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from sharenas.cache import atomic_path, write_bytes_atomic


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's tensors and plain values; loading never runs code from the file
    (``weights_only``: no arbitrary pickled objects)."""
    return torch.load(path, map_location=device, weights_only=True)


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
