"""One ``sharenas auto`` worker: ``python -m sharenas.workflows.auto_worker AUTO_FOLDER
[--threads N]``.

It reads the auto folder's ``auto.json`` (the config, the budget's plan, η and the flow), joins
the run's study of units (:mod:`sharenas.workflows.auto_parallel`) and runs queued units until
none is queued or running. ``sharenas auto --workers N`` starts N of them; more can be started
by hand, here or on another host that reaches the same storage (PostgreSQL) and sees the auto
folder at the same path. The password of a PostgreSQL storage comes from
``$SHARENAS_STORAGE_PASSWORD`` or PostgreSQL's own ``$PGPASSWORD``/``~/.pgpass``.

The folder's config is received data: a dataset module it names (``data.module``) is imported
only when allowed, by ``$SHARENAS_ALLOW_MODULES`` (which ``sharenas auto`` sets for the workers
it starts) or an installed package's entry point.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sharenas.cache import file_lock
from sharenas.config import build_config
from sharenas.errors import ConfigError, SharenasError
from sharenas.run_files import read_record
from sharenas.runs.lock import FolderInUseError
from sharenas.runs.training import load_data
from sharenas.search.storage import heartbeat, password_hidden
from sharenas.workflows.auto_parallel import (
    LOCK_FILE,
    RECORD_ATTR,
    UNIT_ATTR,
    enqueue,
    open_units_study,
    units_study,
)
from sharenas.workflows.auto_plan import AutoPlan
from sharenas.workflows.auto_units import Unit
from sharenas.workflows.auto_work import AutoContext, execute, unit_work

STATE = "auto.json"


def context(out: Path) -> AutoContext:
    """The auto run's context, rebuilt from its ``auto.json``."""
    path = out / STATE
    if not path.is_file():
        raise ConfigError(f"{out}: not an auto folder (no {STATE}); pass the --out of auto.")
    state = read_record(path)
    missing = [k for k in ("config", "plan", "eta", "flow", "study") if k not in state]
    if missing:
        raise ConfigError(
            f"{path}: no {', '.join(missing)}: this auto run was not started with --workers; "
            "rerun sharenas auto with --workers to queue its units."
        )
    config = build_config(state["config"], source=str(path), received=True)
    plan = AutoPlan(**state["plan"])
    data = load_data(config, None, progress=False)  # the parent shows the progress
    flow = "thorough" if state.get("room_skipped") else str(state["flow"])  # as auto.py runs it
    return AutoContext(config, plan, out, data, int(state["eta"]), flow, False)


def _next(study: Any, lock: Path) -> Any | None:
    """The next queued unit's trial (None: nothing queued now); "done" when nothing is queued
    or running (a running unit may still be killed and queued again)."""
    import optuna
    from optuna.trial import TrialState

    with file_lock(lock):
        optuna.storages.fail_stale_trials(study)
        if study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            trial = study.ask()
            study._storage.record_heartbeat(trial._trial_id)
            return trial
        if study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            return None
        return "done"


def work_units(ctx: AutoContext, url: str, name: str, beat: int) -> int:
    """Run queued units until none is left; returns how many this worker ran."""
    from optuna.trial import TrialState

    study = open_units_study(url, name, beat)
    ran = 0
    while (trial := _next(study, ctx.out / LOCK_FILE)) != "done":
        if trial is None:
            time.sleep(1.0)
            continue
        attrs = study._storage.get_trial(trial._trial_id).user_attrs
        if UNIT_ATTR not in attrs:  # a trial asked for when the queue had just emptied
            study.tell(trial, state=TrialState.PRUNED)
            continue
        unit = Unit(**attrs[UNIT_ATTR])
        with heartbeat(study._storage, trial._trial_id, beat):
            try:
                record = execute(unit, unit_work(unit, ctx))
            except FolderInUseError:  # a worker thought dead (paused) still runs it: later
                study.tell(trial, state=TrialState.PRUNED)
                enqueue(study, [unit])
                time.sleep(beat)
                continue
            except BaseException:
                study.tell(trial, state=TrialState.FAIL)
                raise
        ran += _tell(study, trial, record)
    return ran


def _tell(study: Any, trial: Any, record: dict[str, Any]) -> int:
    """Record the unit's result on its trial; 0 when the trial was failed under this worker
    (paused past its heartbeats: the unit was queued again, and its retry finds the finished
    run), else 1."""
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        trial.set_user_attr(RECORD_ATTR, record)
        study.tell(trial, 0.0)
    except (UpdateFinishedTrialError, ValueError):  # Optuna: "Cannot tell a FAIL trial"
        return 0
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sharenas.workflows.auto_worker")
    parser.add_argument("folder", type=Path, help="the auto folder (--out of sharenas auto)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        ctx = context(args.folder)
        if args.threads:
            torch.set_num_threads(args.threads)
        url, name, beat = units_study(read_record(args.folder / STATE), args.folder)
        with password_hidden(url):  # never in a message it prints
            work_units(ctx, url, name, beat)
    except SharenasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
