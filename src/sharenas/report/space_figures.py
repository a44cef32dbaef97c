"""The figures and words a search report shows for each space (a registry: each space's report
module registers its own; a space without one gets none)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

Figures = Callable[[dict[str, Any], Path, Path], dict[str, Path]]  # (arch, history, folder)
Words = Callable[[dict[str, Any]], list[str]]  # arch -> report lines
_FIGURES: dict[str, Figures] = {}
_WORDS: dict[str, Words] = {}


def register_figures(space: str) -> Callable[[Figures], Figures]:
    def add(draw: Figures) -> Figures:
        _FIGURES[space] = draw
        return draw

    return add


def register_words(space: str) -> Callable[[Words], Words]:
    def add(say: Words) -> Words:
        _WORDS[space] = say
        return say

    return add


def space_figures(space: str, arch: dict[str, Any], history: Path, folder: Path) -> dict[str, Path]:
    """The space's pictures (its architecture diagram and its search history), if it has any."""
    draw = _FIGURES.get(space)
    return draw(arch, history, folder) if draw is not None and history.exists() else {}


def space_words(space: str, arch: dict[str, Any]) -> list[str]:
    """Lines of report.md that describe the found architecture in words, if the space has any."""
    say = _WORDS.get(space)
    return say(arch) if say is not None else []
