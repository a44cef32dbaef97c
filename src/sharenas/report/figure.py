"""Saving a figure atomically: rendered to a temporary file and renamed, so a killed report
never leaves half a figure under its final name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import atomic_path


def save_figure(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Write ``fig`` at ``path``, in the format its suffix names (PNG, SVG, PDF); returns
    ``path``."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path
