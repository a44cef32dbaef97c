"""Runs: the only layer that reads a whole config. A training run, a one-shot search run (fusion,
routing), a partition study run and the search session (search, baselines, report) are built
here from the layers below; the ``sharenas`` command calls them."""

from sharenas.runs.folder import resolve_run_config, with_arch
from sharenas.runs.result import Run, SearchResult, open_run
from sharenas.runs.session import search
from sharenas.runs.training import evaluate_run, train

__all__ = [
    "Run",
    "SearchResult",
    "evaluate_run",
    "open_run",
    "resolve_run_config",
    "search",
    "train",
    "with_arch",
]
