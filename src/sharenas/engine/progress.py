"""What a long piece of work shows while it runs, on standard error: on a terminal a live rich
bar (steps) or spinner (a phase without steps); elsewhere (a log file, a pipe, CI) plain log lines
from the start and then every ``EVERY`` seconds, so that no phase is silent for long."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sharenas.engine.distributed import is_main_process

log = logging.getLogger(__name__)

EVERY = 20.0  # seconds between two plain progress lines


def _console() -> Console:
    return Console(stderr=True)


class StepProgress:
    """Steps done out of ``total`` for a training (``enabled`` false: nothing at all)."""

    def __init__(
        self, label: str, total: int, enabled: bool = True, every: float | None = None
    ) -> None:
        self.label, self.total = label, total
        self.every = EVERY if every is None else every
        self.description, self.done = label, 0
        console = _console()
        self.live = enabled and console.is_terminal
        self.plain = enabled and not self.live
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        self.bar = Progress(
            *columns, TimeRemainingColumn(), console=console, transient=True, disable=not self.live
        )
        self.task = self.bar.add_task(label, total=total) if self.live else None
        self.began = self.said = time.monotonic()

    def __enter__(self) -> StepProgress:
        self.bar.__enter__()
        if self.plain:
            log.info("%s: %d steps to run", self.label, self.total)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.bar.__exit__(kind, error, trace)

    def describe(self, description: str) -> None:
        """What trains now (``label · epoch 2/3``)."""
        self.description = description
        if self.task is not None:
            self.bar.update(self.task, description=description)

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more done: the bar moves on a terminal; else a log line at most
        every ``every`` seconds."""
        self.done += steps
        if self.task is not None:
            self.bar.update(self.task, advance=steps)
        elif self.plain and time.monotonic() - self.said >= self.every:
            self.said = time.monotonic()
            elapsed = self.said - self.began
            log.info("%s: step %d/%d (%.0fs)", self.description, self.done, self.total, elapsed)


@contextmanager
def working(what: str, enabled: bool = True, every: float | None = None) -> Iterator[None]:
    """A phase without steps (loading data, writing a report): a spinner on a terminal; else a
    log line at the start and one every ``every`` seconds until it ends (not ``enabled``, or
    with ``--quiet``: nothing)."""
    console = _console()
    if not (enabled and is_main_process()) or not log.isEnabledFor(logging.INFO):  # --quiet
        yield
        return
    if console.is_terminal:
        with console.status(f"{what}…"):
            yield
        return
    log.info("%s…", what)
    done, began = threading.Event(), time.monotonic()
    pause = EVERY if every is None else every

    def beat() -> None:
        while not done.wait(pause):
            log.info("still %s (%.0fs)", what, time.monotonic() - began)

    beating = threading.Thread(target=beat, name="sharenas-progress", daemon=True)
    beating.start()
    try:
        yield
    finally:
        done.set()
        beating.join()
