"""``sharenas auto --workers N``: the independent units of a phase (single-task beside the
branching search; the baselines; random architectures and rung-0 searches; the rung-1
searches) run at once on N worker processes, here or on other hosts.

The units are enqueued as trials of an Optuna study, in the storages the partition study uses
(:mod:`sharenas.search.storage`): a journal file in the auto folder for workers on this host
(the default), or ``--storage postgresql://…`` for workers on several hosts that see the auto
folder at the same path (docs/scale-out.md). A worker
(``python -m sharenas.workflows.auto_worker AUTO_FOLDER``) takes the next queued unit, keeps a
heartbeat while it runs it (:func:`sharenas.workflows.auto_work.unit_work`, the function the
main process uses) and records the unit's result on its trial. A killed worker's unit is failed
once its heartbeat is stale and queued again (Optuna's retry, 3 times at most); it resumes from
its run folder's checkpoint. Only the main process writes ``auto.json``, reading the finished
units back from the study.

Optuna rather than a queue of our own or Ray: the partition study already depends on it, and
its storages, heartbeats and retries are tested in sharenas; Ray would add a dependency and a
cluster to run for the same guarantees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from sharenas.errors import ConfigError, SharenasError
from sharenas.plugins import allowance
from sharenas.runs.partition import settle  # fail killed workers' trials, waiting for stale
from sharenas.search.storage import (
    PASSWORD_ENV,
    journal_url,
    open_storage,
    password,
    password_hidden,
    saved,
    shown,
)
from sharenas.workflows.auto_progress import watch
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.auto_work import AutoContext

UNIT_ATTR = "unit"  # the trial's unit (kind, name, rung)
RECORD_ATTR = "record"  # what the unit delivered, for auto.json
JOURNAL_FILE = "units.journal"
LOCK_FILE = "units.lock"
HEARTBEAT = 10  # seconds between a worker's heartbeats


def units_study(state: dict[str, Any], out: Path) -> tuple[str, str, int]:
    """(storage URL, study name, heartbeat seconds) of the auto run in ``out``, as its
    ``auto.json`` records them."""
    url = state.get("storage") or journal_url(out / JOURNAL_FILE)
    return url, str(state["study"]), int(state.get("heartbeat", HEARTBEAT))


def open_units_study(url: str, name: str, heartbeat: int, create: bool = False) -> Any:
    import optuna

    storage = open_storage(url, heartbeat)
    if create:
        return optuna.create_study(study_name=name, storage=storage, load_if_exists=True)
    return optuna.load_study(study_name=name, storage=storage)


def enqueue(study: Any, units: list[Unit]) -> None:
    """Queue the units the study does not hold yet (waiting, running or finished)."""
    from optuna.trial import TrialState

    alive = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
    known = {Unit(**t.user_attrs[UNIT_ATTR]).key for t in study.get_trials(states=alive)
             if UNIT_ATTR in t.user_attrs}  # fmt: skip
    for unit in units:
        if unit.key not in known:
            study.enqueue_trial({}, user_attrs={UNIT_ATTR: unit.record()})


def finished(study: Any) -> dict[str, dict[str, Any]]:
    """The finished units' records, by unit key."""
    from optuna.trial import TrialState

    done = study.get_trials(states=(TrialState.COMPLETE,))
    return {
        Unit(**t.user_attrs[UNIT_ATTR]).key: t.user_attrs[RECORD_ATTR]
        for t in done
        if UNIT_ATTR in t.user_attrs and RECORD_ATTR in t.user_attrs
    }


def start_study(state: Any, storage: str | None) -> Any:
    """Open the run's study of units (created on the first call, named once) and record its
    storage in ``auto.json`` without the password, once it has opened; a resumed run must name
    the storage it started with. Returns the study."""
    recorded = state.data.get("storage")
    if "study" in state.data and (saved(storage) if storage else None) != recorded:
        started = f"--storage {shown(recorded)!r}" if recorded else "no --storage"
        raise ConfigError(
            f"{state.path}: this auto run's units are in the study it started with "
            f"({started}); resume it with the same, or pass another --out."
        )
    name = state.data.get("study") or f"sharenas-auto-{uuid.uuid4().hex[:12]}"
    beat = int(state.data.get("heartbeat", HEARTBEAT))
    url = storage or journal_url(Path(state.path).parent / JOURNAL_FILE)
    with password_hidden(storage):
        study = open_units_study(url, name, beat, create=True)
    if "study" not in state.data:
        state.data.update(study=name, storage=saved(storage) if storage else None, heartbeat=beat)
        state.save()
    return study


def worker_command(out: Path, threads: int | None) -> list[str]:
    extra = ["--threads", str(threads)] if threads else []
    return [sys.executable, "-m", "sharenas.workflows.auto_worker", str(out), *extra]


def _environment(ctx: AutoContext, storage: str | None) -> dict[str, str]:
    """The workers' environment: the storage password (never on a command line) and the
    allowance of the config's own dataset module."""
    env = dict(os.environ)
    secret = password(storage)
    if secret:
        env[PASSWORD_ENV] = secret
    env.update(allowance([ctx.config.data.module]))
    return env


def run_parallel(
    state: Any, units: list[Unit], ctx: AutoContext, workers: int, storage: str | None
) -> None:
    """Run ``units`` on ``workers`` processes and record each in ``auto.json``; a clear error
    naming the units that did not finish (rerun to resume them)."""
    with password_hidden(storage):  # a database error names --storage, the password hidden
        _run_on_workers(state, units, ctx, workers, storage)


def _run_on_workers(
    state: Any, units: list[Unit], ctx: AutoContext, workers: int, storage: str | None
) -> None:
    study = start_study(state, storage)
    settle(study, int(state.data["heartbeat"]))
    enqueue(study, units)
    began = time.perf_counter()
    threads = None if ctx.config.train.threads else max(1, (os.cpu_count() or 1) // workers)
    env = _environment(ctx, storage)
    processes = [
        subprocess.Popen(worker_command(ctx.out, threads), env=env) for _ in range(workers)
    ]
    try:
        if ctx.progress:
            keys = {u.key for u in units}
            watch(
                lambda: len(keys & set(finished(study))),
                len(units),
                lambda: any(p.poll() is None for p in processes),
                f"auto: units on {workers} workers",
            )
        codes = [p.wait() for p in processes]
    except BaseException:  # interrupted: the workers stop with it (a rerun resumes the units)
        for process in processes:
            process.terminate()
        raise
    records = finished(study)
    units_done = state.data.setdefault("units", {})
    for unit in units:
        if unit.key in records and unit.key not in units_done:
            units_done[unit.key] = records[unit.key]
    phases = state.data.setdefault("parallel", [])
    wall = round(time.perf_counter() - began, 3)
    phases.append({"units": [u.key for u in units], "workers": workers, "wall_seconds": wall})
    state.save()
    missing = [u.key for u in units if u.key not in units_done]
    if missing:
        failed = [c for c in codes if c != 0]
        raise SharenasError(
            f"auto: {len(missing)} unit(s) did not finish on the workers ({', '.join(missing)}; "
            f"{len(failed)} of {workers} workers exited with an error: see their messages "
            "above); rerun the same command to resume them."
        )
