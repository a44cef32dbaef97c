"""Saving a figure atomically (rendered to a temporary file and renamed, so a killed report
never leaves half a figure under its final name), as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sharenas.cache import atomic_path


def save_figure(fig: Any, path: Path, dpi: int = 120) -> Path:
    """Write ``fig`` at ``path`` in the format its suffix names; a PNG gets the same figure as
    SVG beside it (a vector copy for papers). Returns ``path``."""
    path = Path(path)
    formats = [path] + ([path.with_suffix(".svg")] if path.suffix == ".png" else [])
    for target in formats:
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, format=target.suffix.lstrip(".") or "png")
    return path
