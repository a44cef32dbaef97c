"""What the multi-seed benchmarks share: named search variants given on the command line, and
running one function per cell (a seed, a correlation…) in several processes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``NAME=KEY=VALUE;KEY=VALUE`` -> (NAME, overrides); ``NAME`` alone: no overrides."""
    name, _, rest = text.partition("=")
    return name, [item for item in rest.split(";") if item]


def run_cells(function: Callable[..., Any], cells: list[tuple], jobs: int) -> list[Any]:  # type: ignore[type-arg]
    """``function(*cell)`` for every cell, whose second argument is its config overrides; with
    ``jobs`` > 1 in that many processes of 1 torch thread each (two trainings on 2 cores with 2
    threads each run ten times slower)."""
    if jobs == 1:
        return [function(*cell) for cell in cells]
    from concurrent.futures import ProcessPoolExecutor

    threaded = [(c[0], [*c[1], "train.threads=1"], *c[2:]) for c in cells]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(function, *zip(*threaded, strict=True)))
