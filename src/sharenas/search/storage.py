"""The partition study's Optuna storage: opening it, and keeping its password out of sight.

Three kinds, as Optuna advises for each use: ``sqlite:///FILE`` for one worker (the default
then); ``journal:///FILE``, Optuna's JournalStorage on a file, for several worker processes on one
host (the default then: SQLite locks the whole file and serves concurrent writers badly); an RDB
URL such as ``postgresql://user@host/db`` for workers on several hosts. All three keep heartbeats,
so a killed worker's trial is failed and queued again.

A storage URL may carry a password (``postgresql://user:secret@host/db``, or
``?password=secret``). It is never printed nor saved: messages show ``***`` in its place (also
for a URL that cannot be parsed, and in the errors of the database and its driver), and saved
configs keep the URL without it. The password can come instead from
``$SHARENAS_STORAGE_PASSWORD`` or the database's own mechanisms (PostgreSQL: ``$PGPASSWORD`` or
``~/.pgpass``), which a resumed search or a worker started by hand then uses.

Whether a storage holds a study is found without writing to it (``study_exists``): a SQLite
file is read read-only and refused when it holds tables that are not Optuna's, a journal file
when it is not an Optuna journal; nothing (no file, no table) is created before the search is
known to be valid.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

from sharenas.errors import ConfigError, SharenasError

PASSWORD_ENV = "SHARENAS_STORAGE_PASSWORD"
JOURNAL = "journal://"


def _parsed(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


# Redaction. Every storage URL that may reach a message, a log or a file goes through
# ``shown`` (messages), ``saved`` (files) or ``scrub`` (the text of an error raised while the
# URL was in use). They read the URL as text, so that a URL sqlalchemy cannot parse (a port
# that is not a number, a password holding ``@`` or ``/``) is hidden too: the password of
# ``user:password@`` runs to the last ``@`` of the authority when the URL is ambiguous, and
# query parameters named like a password (``password=``, ``pwd=``, ``passwd=``, percent-encoded
# or nested in an encoded value such as ``odbc_connect``) are hidden as well. File storages
# (``journal:///FILE``, ``sqlite:///FILE``) are left as they are.

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(//)?")
_HIDDEN = "***"


def _scheme(url: str) -> str:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else ""


def _is_journal(url: str) -> bool:
    return url.startswith(JOURNAL)


def _split(url: str) -> tuple[str, str | None, str | None, str, str | None]:
    """(head ``scheme://``, user, password, host-port-path, query) as text; user is None when
    the URL has no ``user@``, password None when it has no ``:password``."""
    match = _SCHEME.match(url)
    head = match.group(0) if match and match.group(2) else ""
    rest = url[len(head) :]
    if head and not _scheme(url).startswith("sqlite"):  # postgresql:///user:pw@host: garbage
        slashes = len(rest) - len(rest.lstrip("/"))
        head, rest = head + rest[:slashes], rest[slashes:]
    end, _ = _userinfo_end(rest)
    if end is None:
        user = secret = None
        tail = rest
    else:
        user, colon, secret_text = rest[:end].partition(":")
        secret = secret_text if colon else None
        tail = rest[end + 1 :]
    base, mark, query = tail.partition("?")
    return head, user, secret, base, query if mark else None


def _userinfo_end(rest: str) -> tuple[int | None, bool]:
    """Where the ``user:password`` of a URL's text after ``scheme://`` ends (its ``@``, None
    without one), and whether that is ambiguous: another ``@`` stands in the host, the path or
    a query key (a password with an unencoded ``@``), so the last one is taken."""
    if "@" not in rest or rest.startswith("/"):  # sqlite:///a@b.db: a path
        return None, False
    end = rest.index("@")
    base, _, query = rest[end + 1 :].partition("?")
    keys = [pair.split("=", 1)[0] for pair in re.split("[&;]", query)]
    if "@" in base or any("@" in key for key in keys):  # hide the most
        return rest.rindex("@"), True
    return end, False


def _ambiguous(url: str) -> bool:
    head = _split(url)[0]
    return _userinfo_end(url[len(head) :])[1]


def check_url(url: str) -> None:
    """A ConfigError, before anything connects, when a URL's password cannot be told from its
    host (the driver would get part of it as the host, and print it)."""
    if not _is_journal(url) and _ambiguous(url):
        raise ConfigError(
            f"search.study.storage={shown(url)!r} (--storage): more than one '@' before the host, "
            "so where the password ends is ambiguous; percent-encode the password's special "
            "characters (@ as %40, / as %2F, ? as %3F, # as %23, : as %3A) or give it in "
            f"${PASSWORD_ENV} instead."
        )


def _secret_key(key: str) -> bool:
    name = unquote_plus(key).strip().lower()
    return name in ("pwd", "passwd", "pass") or any(
        word in name for word in ("password", "passphrase", "secret")
    )


def _query(query: str, keep: bool, depth: int = 0) -> tuple[str, list[str]]:
    """(``query`` with its secret parameters hidden (``keep``) or dropped, the secrets)."""
    pieces = re.split(r"([&;])", query)
    kept: list[tuple[str, str]] = []
    secrets: list[str] = []
    for index in range(0, len(pieces), 2):
        piece, separator = pieces[index], pieces[index - 1] if index else ""
        key, equals, value = piece.partition("=")
        if not equals:  # password%3DPW: the key and its value encoded as one
            encoded = re.split("%3d", piece, maxsplit=1, flags=re.IGNORECASE)
            key, equals, value = unquote_plus(piece).partition("=")
            if equals and _secret_key(key):
                secrets += [value, encoded[-1]]
                kept += [(separator, f"{key}={_HIDDEN}")] if keep else []
            else:
                kept.append((separator, piece))
            continue
        if _secret_key(key):
            secrets += [value, unquote(value), unquote_plus(value)]
            kept += [(separator, f"{key}={_HIDDEN}")] if keep else []
            continue
        inner = unquote_plus(value)
        if depth < 3 and re.search(r"[=&;]", inner):  # odbc_connect=...%3BPWD%3D...
            hidden, found = _query(inner, keep, depth + 1)
            if found:
                secrets += found
                piece = f"{key}={quote_plus(hidden)}"
        kept.append((separator, piece))
    return "".join(p if i == 0 else s + p for i, (s, p) in enumerate(kept)), secrets


def _secrets(url: str | None) -> list[str]:
    """Every form in which ``url``'s password may appear (longest first)."""
    if not url or _is_journal(url):
        return []
    _, _, secret, _, query = _split(url)
    found = [secret, unquote(secret), unquote_plus(secret)] if secret else []
    found += _query(query, keep=True)[1] if query is not None else []
    return sorted({f for f in found if f}, key=len, reverse=True)


def _join(head: str, user: str | None, secret: str | None, base: str, query: str | None) -> str:
    userinfo = "" if user is None else user + ("" if secret is None else f":{secret}") + "@"
    return head + userinfo + base + (f"?{query}" if query else "")


def shown(url: str | None) -> str:
    """``url`` as it may be printed or logged: its password replaced by ``***``."""
    if not url or _is_journal(url):
        return url or ""
    head, user, secret, base, query = _split(url)
    if secret is None and not _secrets(url):
        return url
    hidden = None if query is None else _query(query, keep=True)[0]
    return _join(head, user, None if secret is None else _HIDDEN, base, hidden)


def saved(url: str | None) -> str | None:
    """``url`` as it may be written to a file: without its password."""
    if not url or _is_journal(url) or (not _secrets(url) and _split(url)[2] is None):
        return url
    head, user, _, base, query = _split(url)
    return _join(head, user, None, base, None if query is None else _query(query, keep=False)[0])


def password(url: str | None) -> str | None:
    """The password a URL carries (``user:password@`` or ``?password=``), if any."""
    if not url or _is_journal(url):
        return None
    _, _, secret, _, query = _split(url)
    if secret is not None:
        return unquote(secret)
    for pair in re.split("[&;]", query or ""):
        key, equals, value = pair.partition("=")
        if equals and unquote_plus(key).strip().lower() in ("password", "pwd", "passwd"):
            return unquote_plus(value)
    return None


def with_password(url: str) -> str:
    """``url`` with ``$SHARENAS_STORAGE_PASSWORD`` filled in when it has no password."""
    secret = os.environ.get(PASSWORD_ENV)
    if not secret or _is_journal(url) or _scheme(url).startswith("sqlite"):
        return url
    if password(url) is not None or not _SCHEME.match(url):
        return url
    head, user, _, base, query = _split(url)
    if user is not None:
        return _join(head, user, quote(secret, safe=""), base, query)
    extra = f"password={quote_plus(secret)}"
    return _join(head, None, None, base, f"{query}&{extra}" if query else extra)


def scrub(text: str, url: str | None) -> str:
    """``text`` (an error's message) with ``url``'s password, in any of its forms, and
    ``$SHARENAS_STORAGE_PASSWORD`` replaced by ``***``."""
    if url:
        for form in sorted({with_password(url), url}, key=len, reverse=True):
            text = text.replace(form, shown(url))
    env = os.environ.get(PASSWORD_ENV)
    for secret in sorted({*_secrets(url), *([env] if env else [])}, key=len, reverse=True):
        text = text.replace(secret, _HIDDEN)
    return text


def _scrub_exception(error: BaseException, url: str | None) -> None:
    """Scrub the messages of ``error`` and of the errors it was raised from, in place."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        args = tuple(scrub(a, url) if isinstance(a, str) else a for a in current.args)
        if args != current.args:
            current.args = args
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


def _database_error(error: BaseException) -> bool:
    """Whether ``error`` comes from the storage's database (sqlalchemy, a driver, Optuna's
    storage), judged without importing anything."""
    kinds = []
    for module, name in (
        ("sqlalchemy.exc", "SQLAlchemyError"),
        ("optuna.exceptions", "StorageInternalError"),
        ("psycopg", "Error"),
        ("sqlite3", "Error"),
    ):
        kind = getattr(sys.modules.get(module), name, None)
        if isinstance(kind, type):
            kinds.append(kind)
    return isinstance(error, tuple(kinds))


@contextlib.contextmanager
def password_hidden(url: str | None) -> Iterator[None]:
    """Errors raised in the block with ``url``'s password hidden: a database error becomes a
    ConfigError naming ``search.study.storage``; any other error keeps its kind, its message
    (and those of the errors it was raised from) scrubbed."""
    try:
        yield
    except SharenasError as error:
        _scrub_exception(error, url)
        raise
    except Exception as error:
        if _database_error(error):
            reason = _reason(error, url)
            raise ConfigError(
                f"search.study.storage={shown(url)!r} (--storage) failed ({reason}); check that "
                "the database is reachable and its password right, then rerun with --resume."
                if url
                else f"the partition study's storage failed ({reason}); rerun with --resume."
            ) from None
        _scrub_exception(error, url)
        raise


def _reason(error: BaseException, url: str | None) -> str:
    """``error`` in one short line, the password hidden."""
    text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return f"{type(error).__name__}: {scrub(text, url)}" if text else type(error).__name__


def _unopened(url: str, error: BaseException | str) -> ConfigError:
    reason = error if isinstance(error, str) else _reason(error, url)
    return ConfigError(
        f"search.study.storage={shown(url)!r} (--storage) cannot be opened ({reason}); give a "
        "reachable database URL such as sqlite:///runs/study.db, journal:///runs/study.journal "
        f"or postgresql://user@host/db (the password from ${PASSWORD_ENV}, $PGPASSWORD or "
        "~/.pgpass)."
    )


# Inspection, writing nothing: whether a storage can hold the study, and holds it already.


def absolute(url: str) -> str:
    """``url`` with a relative SQLite or journal file made absolute (a worker or a resumed
    search started elsewhere finds the same file)."""
    if url.startswith(JOURNAL):
        return journal_url(Path(url.removeprefix(JOURNAL)))
    path = _sqlite_path(url) if _scheme(url).startswith("sqlite") else None
    if path is None or path.is_absolute() or ":///" not in url:
        return url
    head, _, rest = url.partition(":///")
    database, mark, query = rest.partition("?")
    prefix = "file:" if database.startswith("file:") else ""
    return f"{head}:///{prefix}{os.path.abspath(database.removeprefix(prefix))}{mark}{query}"


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None: in memory); a ConfigError when it names none."""
    parsed = _parsed(url)
    if parsed is None:
        raise _unopened(url, "not a database URL")
    database = parsed.database
    if not database or database == ":memory:" or "mode=memory" in url:
        return None
    return Path(database.removeprefix("file:"))


def optuna_tables() -> set[str]:
    """The tables Optuna's RDB storage creates."""
    from optuna.storages._rdb import models

    return {*models.BaseModel.metadata.tables, "alembic_version"}


def _refuse_foreign(url: str, what: str, tables: set[str], example: str) -> None:
    """A ConfigError when a database holds tables that are not Optuna's: a study is never
    added to a database of the user's own (Optuna would create its tables beside theirs)."""
    foreign = sorted(tables - optuna_tables())
    if foreign:
        listed = ", ".join(foreign[:5]) + (" …" if len(foreign) > 5 else "")
        raise ConfigError(
            f"search.study.storage={shown(url)!r} (--storage): {what} with tables that are not "
            f"Optuna's ({listed}); it was left untouched. Give a new database ({example}) or "
            "one that holds Optuna studies only."
        )


def _sqlite_study(url: str, name: str | None) -> bool:
    """Whether the SQLite file holds study ``name``; a ConfigError, the file untouched, when it
    is not a database or holds tables of its own."""
    path = _sqlite_path(url)
    if path is None:
        raise ConfigError(
            f"search.study.storage={shown(url)!r} (--storage): an in-memory SQLite database is "
            "gone when its process ends, but the workers and --resume need the study; give a "
            "file, e.g. sqlite:///runs/study.db."
        )
    if not path.parent.is_dir():
        raise _unopened(url, f"no folder {path.parent}")
    if path.is_dir():
        raise _unopened(url, f"{path} is a folder")
    if not path.exists():
        return False
    try:
        # read-only: nothing is written to a database that may be the user's own
        with contextlib.closing(
            sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=60)
        ) as connection:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {row[0] for row in rows if not row[0].startswith("sqlite_")}
            _refuse_foreign(url, f"{path} is a SQLite database", tables, "sqlite:///runs/study.db")
            if name is None or "studies" not in tables:
                return False
            query = "SELECT 1 FROM studies WHERE study_name = ? LIMIT 1"
            return connection.execute(query, (name,)).fetchone() is not None
    except sqlite3.Error as error:
        raise ConfigError(
            f"search.study.storage={shown(url)!r} (--storage): {path} is not an Optuna SQLite "
            f"database ({_reason(error, url)}); it was left untouched. Give a new file "
            "(sqlite:///runs/study.db) or one Optuna created."
        ) from None


def _journal_path(url: str) -> Path:
    path = Path(url.removeprefix(JOURNAL))
    if not path.parent.is_dir():
        raise ConfigError(
            f"search.study.storage={url!r} (--storage): no folder {path.parent}; give a journal "
            "file in an existing folder (journal:///absolute/path/study.journal)."
        )
    return path


def _journal_lines(url: str, path: Path) -> None:
    """A ConfigError, the file untouched, unless every line of ``path`` is one of an Optuna
    journal (a JSON object with an ``op_code``; the last may be cut short by a killed writer,
    as Optuna allows). Optuna itself skips a bad last line, then appends to the file."""
    import json

    problem = None
    with open(path, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            entry = None
        if not (isinstance(entry, dict) and "op_code" in entry):
            if number == len(lines) > 1 and not line.endswith(b"\n"):
                break  # a write cut short
            problem = f"line {number} is not a journal entry"
            break
    if problem:
        raise ConfigError(
            f"search.study.storage={url!r} (--storage): {path} is not an Optuna journal file "
            f"({problem}); it was left untouched. Give a new file "
            "(journal:///runs/study.journal) or one Optuna wrote."
        )


def _journal_study(url: str, name: str) -> bool:
    """Whether the journal file holds study ``name``; a ConfigError, the file untouched, when
    it is not an Optuna journal."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = _journal_path(url)
    if not path.exists():
        return False
    if not path.is_file():
        raise _unopened(url, f"{path} is not a file")
    _journal_lines(url, path)
    try:  # the backend only creates a missing file; this one exists and is only read
        studies = JournalStorage(JournalFileBackend(str(path))).get_all_studies()
    except Exception as error:  # entries Optuna cannot replay
        raise ConfigError(
            f"search.study.storage={url!r} (--storage): {path} is not an Optuna journal file "
            f"({_reason(error, url)}); it was left untouched. Give a new file "
            "(journal:///runs/study.journal) or one Optuna wrote."
        ) from None
    return any(study.study_name == name for study in studies)


def _database_study(url: str, name: str) -> bool:
    """Whether the database holds study ``name``: a connection and a read, nothing created."""
    import sqlalchemy

    check_driver(url)
    full = with_password(url)
    try:
        engine = sqlalchemy.create_engine(full)
        try:
            with engine.connect() as connection:
                tables = set(sqlalchemy.inspect(connection).get_table_names())
                _refuse_foreign(url, "the database", tables, "a database of its own")
                if "studies" not in tables:
                    return False
                query = sqlalchemy.text("SELECT 1 FROM studies WHERE study_name = :name")
                return connection.execute(query, {"name": name}).first() is not None
        finally:
            engine.dispose()
    except ConfigError:
        raise
    except Exception as error:  # sqlalchemy and the drivers raise many kinds
        raise _unopened(url, error) from None


def study_exists(url: str, name: str) -> bool:
    """Whether the storage at ``url`` holds study ``name``, found without writing anything (no
    file, no table); a ConfigError, the password hidden, when the storage cannot serve a study
    (unreachable, a wrong password, a file or database that is not Optuna's)."""
    check_url(url)
    with password_hidden(url):
        if url.startswith(JOURNAL):
            return _journal_study(url, name)
        if _scheme(url).startswith("sqlite"):
            return _sqlite_study(url, name)
        return _database_study(url, name)


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

    path = _journal_path(url)
    if path.is_file():
        _journal_lines(url, path)
    try:
        return _journal_class()(JournalFileBackend(str(path)), heartbeat, 3 * heartbeat, retry)
    except Exception as error:
        raise _unopened(url, error) from None


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
            f"search.study.storage={shown(url)!r} (--storage) needs the PostgreSQL driver: pip "
            "install 'sharenas[postgres]' (psycopg 3)."
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
    check_url(url)
    if _scheme(url).startswith("sqlite"):
        _sqlite_study(url, None)  # refuses, untouched, a database that is not Optuna's
    full = with_password(url)
    check_driver(url)
    # SQLite locks the whole file: wait for it (up to a minute) rather than fail under load
    engine = {"connect_args": {"timeout": 60}} if full.startswith("sqlite") else {}
    attempts = 3
    while True:
        attempts -= 1
        try:
            return _storage_class()(
                full,
                engine_kwargs=engine,
                heartbeat_interval=heartbeat,
                grace_period=3 * heartbeat,
                **callback,
            )
        except Exception as error:  # sqlalchemy raises many kinds; all mean "cannot open"
            if not (attempts and _created_beside(error)):
                raise _unopened(url, error) from None
        time.sleep(0.5)  # another process made the schema meanwhile: it is there now


def _created_beside(error: BaseException) -> bool:
    """Whether opening failed because another process created the same new database's tables
    at the same moment (two workers starting together); opening again then finds them."""
    race = type(error).__name__ == "IntegrityError" or "already exists" in str(error)
    return _database_error(error) and race


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
