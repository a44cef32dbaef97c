"""Runs: one run folder at a time. A training run, a one-shot search run (fusion, routing), a
random search, a partition study run, and what every run folder holds and how it is read back
(:mod:`sharenas.runs.folder`, :mod:`sharenas.runs.records`). The workflows above
(:mod:`sharenas.workflows`) combine them into sessions, seeds and ``auto``."""

from sharenas.runs.folder import resolve_run_config, with_arch
from sharenas.runs.result import Run, SearchResult, open_run
from sharenas.runs.training import evaluate_run, train

__all__ = [
    "Run",
    "SearchResult",
    "evaluate_run",
    "open_run",
    "resolve_run_config",
    "train",
    "with_arch",
]
