"""Saving a figure atomically: rendered to a temporary file and renamed, so a killed report
never leaves half a PNG under its final name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import atomic_path


def save_figure(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path``; returns ``path``."""
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return Path(path)
