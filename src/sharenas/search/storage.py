"""The partition study's Optuna storage: opening it, and keeping its password out of sight.

Three kinds, as Optuna advises for each use: ``sqlite:///FILE`` for one worker (the default
then); ``journal:///FILE``, Optuna's JournalStorage on a file, for several worker processes on one
host (the default then: SQLite locks the whole file and serves concurrent writers badly); an RDB
URL such as ``postgresql://user@host/db`` for workers on several hosts. All three keep heartbeats,
so a killed worker's trial is failed and queued again.

A storage URL may carry a password (``postgresql://user:secret@host/db``). It is never printed
nor saved: messages show ``***`` in its place, and saved configs keep the URL without it. The
password can come instead from ``$SHARENAS_STORAGE_PASSWORD`` or the database's own mechanisms
(PostgreSQL: ``$PGPASSWORD`` or ``~/.pgpass``), which a resumed search or a worker started by hand
then uses.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sharenas.errors import ConfigError

PASSWORD_ENV = "SHARENAS_STORAGE_PASSWORD"


def _parsed(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


def shown(url: str) -> str:
    """``url`` as it may be printed: its password replaced by ``***``."""
    parsed = _parsed(url)
    return url if parsed is None else parsed.render_as_string(hide_password=True)


def saved(url: str | None) -> str | None:
    """``url`` as it may be written to a file: without its password."""
    parsed = _parsed(url) if url else None
    if parsed is None or parsed.password is None:
        return url
    return parsed._replace(password=None).render_as_string(hide_password=False)


def password(url: str | None) -> str | None:
    """The password a URL carries, if any."""
    parsed = _parsed(url) if url else None
    return None if parsed is None or parsed.password is None else str(parsed.password)


def with_password(url: str) -> str:
    """``url`` with ``$SHARENAS_STORAGE_PASSWORD`` filled in when it has no password."""
    password = os.environ.get(PASSWORD_ENV)
    parsed = _parsed(url)
    if not password or parsed is None or parsed.password is not None or parsed.username is None:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def _scrubbed(message: str, url: str) -> str:
    parsed = _parsed(url)
    if parsed is not None and parsed.password:
        message = message.replace(str(parsed.password), "***")
    return message


def _storage_class() -> type:
    """Optuna's RDB storage that also fails a trial killed before its first heartbeat (Optuna
    skips trials without a heartbeat row, so such a trial stayed RUNNING for ever)."""
    from optuna import storages
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    class Storage(storages.RDBStorage):  # type: ignore[misc]
        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            stale = list(super()._get_stale_trial_ids(study_id))
            grace = timedelta(seconds=self.grace_period or 2 * (self.heartbeat_interval or 1))
            session = self.scoped_session()
            try:
                running = (
                    session.query(models.TrialModel)
                    .filter(models.TrialModel.state == TrialState.RUNNING)
                    .filter(models.TrialModel.study_id == study_id)
                    .all()
                )
                for trial in running:
                    started = trial.datetime_start or datetime.now()
                    if not trial.heartbeats and datetime.now() - started > grace:
                        stale.append(trial.trial_id)
            finally:
                session.close()
            return sorted(set(stale))

    return Storage


JOURNAL = "journal://"


def journal_url(path: Path) -> str:
    return f"{JOURNAL}{Path(path).resolve()}"


def _journal_class() -> type:
    """Optuna's JournalStorage with heartbeats kept as a trial system attribute (the journal
    itself has none): a RUNNING trial whose last beat is older than the grace period is stale."""
    from optuna.storages import JournalStorage
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.trial import TrialState

    class Journal(JournalStorage, BaseHeartbeat):  # type: ignore[misc]
        def __init__(self, backend: Any, interval: int, grace: int, retry: Any) -> None:
            super().__init__(backend)
            self.interval, self.grace, self.retry = interval, grace, retry

        def record_heartbeat(self, trial_id: int) -> None:
            import optuna

            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                self.set_trial_system_attr(trial_id, "heartbeat", time.time())

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            now, stale = time.time(), []
            for trial in self.get_all_trials(study_id, states=(TrialState.RUNNING,)):
                started = trial.datetime_start.timestamp() if trial.datetime_start else now
                if now - float(trial.system_attrs.get("heartbeat", started)) > self.grace:
                    stale.append(trial._trial_id)
            return stale

        def get_heartbeat_interval(self) -> int | None:
            return self.interval

        def get_heartbeat_stale_trial_callback(self) -> Any:
            return self.retry

    return Journal


def _open_journal(url: str, heartbeat: int, retry: Any) -> Any:
    from optuna.storages.journal import JournalFileBackend

    path = Path(url.removeprefix(JOURNAL))
    if not path.parent.is_dir():
        raise ConfigError(
            f"search.study.storage={url!r}: no folder {path.parent}; give a journal file in an "
            "existing folder (journal:///absolute/path/study.journal)."
        )
    return _journal_class()(JournalFileBackend(str(path)), heartbeat, 3 * heartbeat, retry)


def check_driver(url: str) -> None:
    """A clear error when ``url`` names PostgreSQL and its driver is not installed."""
    if not url.startswith(("postgresql", "postgres")):
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        if "+psycopg2" in url.split("://")[0]:
            return  # the user chose psycopg2 and installed it
        raise ConfigError(
            f"search.study.storage={shown(url)!r} needs the PostgreSQL driver: pip install "
            "'sharenas[postgres]' (psycopg 3)."
        ) from None


def open_storage(url: str, heartbeat: int, retry: Any = None) -> Any:
    """Optuna RDB storage with heartbeats; a killed worker's trial is handed to ``retry``
    (default: Optuna's retry, 3 times at most). A ConfigError, the password hidden, when it
    cannot be opened."""
    import optuna
    from optuna import storages

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    stale = getattr(storages, "RetryHeartbeatStaleTrialCallback", None)  # optuna >= 4.9
    retry = retry or (stale or storages.RetryFailedTrialCallback)(max_retry=3)
    callback = (
        {"heartbeat_stale_trial_callback": retry}
        if stale is not None
        else {"failed_trial_callback": retry}
    )
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    if url.startswith(JOURNAL):
        return _open_journal(url, heartbeat, retry)
    full = with_password(url)
    check_driver(url)
    # SQLite locks the whole file: wait for it (up to a minute) rather than fail under load
    engine = {"connect_args": {"timeout": 60}} if full.startswith("sqlite") else {}
    try:
        return _storage_class()(
            full,
            engine_kwargs=engine,
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            **callback,
        )
    except Exception as exc:  # sqlalchemy raises many kinds; all mean "cannot open"
        reason = _scrubbed(str(exc).splitlines()[0][:200] if str(exc) else "", full)
        raise ConfigError(
            f"search.study.storage={shown(url)!r} cannot be opened ({type(exc).__name__}: "
            f"{reason}); give a reachable database URL such as sqlite:///runs/study.db, "
            "journal:///runs/study.journal or postgresql://user@host/db (the password from "
            f"${PASSWORD_ENV}, $PGPASSWORD or ~/.pgpass)."
        ) from None


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int, interval: int) -> Iterator[None]:
    """Record ``trial_id``'s heartbeat every ``interval`` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            storage.record_heartbeat(trial_id)

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
