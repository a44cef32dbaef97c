"""What ``sharenas auto`` shows while it works: at each phase the units it starts, how many are
left and, where it can be estimated, how long they will take; with ``--workers`` a bar of the
phase's finished units (each unit run here shows its own training bar)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sharenas.engine.progress import EVERY
from sharenas.workflows.auto_plan import AutoPlan
from sharenas.workflows.auto_report import total_cost
from sharenas.workflows.auto_units import Unit

console = Console(stderr=True)
log = logging.getLogger(__name__)


def estimate_seconds(state: dict[str, Any], plan: AutoPlan, units: list[Unit]) -> float | None:
    """Seconds ``units`` should take one after the other: each baseline its FLOPs per example ÷
    hard-sharing's × one hard-sharing training as measured so far; None before one is measured
    or when a unit is a search or random architectures (their cost is not known in advance)."""
    if not state.get("units"):
        return None
    _, one, name = total_cost(state)
    hard = plan.baselines.get("hard-sharing")
    if name == "single-task" or not hard or any(u.kind != "baseline" for u in units):
        return None
    share = {True: 1 / max(1, int(state.get("eta", 1))), False: 1.0}  # a paused baseline: rung 0
    return sum(plan.baselines.get(u.name, hard) / hard * one * share[u.paused] for u in units)


def say_phase(state: dict[str, Any], plan: AutoPlan, pending: list[Unit], workers: int) -> None:
    """One line at the start of a phase: the units, how many, the estimate."""
    done = len(state.get("units", {}))
    estimate = estimate_seconds(state, plan, pending)
    on = f" on {workers} workers" if workers > 1 and len(pending) > 1 else ""
    guess = f"; about {estimate / max(1, min(workers, len(pending))):.0f} s" if estimate else ""
    console.print(
        f"auto: {len(pending)} unit(s) to run{on} ({', '.join(u.key for u in pending)}; "
        f"{done} finished before){guess}",
        highlight=False,
    )


def watch(count: Callable[[], int], total: int, alive: Callable[[], bool], label: str) -> None:
    """A bar of finished units (``count()``) out of ``total`` until ``alive()`` is false (not on
    a terminal: a log line whenever a unit finishes, and at least every ``EVERY`` seconds)."""
    if not console.is_terminal:
        _watch_plain(count, total, alive, label)
        return
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        while alive():
            bar.update(task, completed=count())
            time.sleep(1.0)


def _watch_plain(
    count: Callable[[], int], total: int, alive: Callable[[], bool], label: str
) -> None:
    began = said = time.monotonic()
    last = -1
    while alive():
        done, now = count(), time.monotonic()
        if done != last or now - said >= EVERY:
            log.info("%s: %d/%d units finished (%.0fs)", label, done, total, now - began)
            last, said = done, now
        time.sleep(1.0)
