"""The partition study's storage: its password never printed nor saved, an explicit storage that
starts and resumes a search, and a database of the user's own left untouched."""

import contextlib
import hashlib
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sharenas.config import Config, build_config, dump_config
from sharenas.errors import ConfigError, SharenasError
from sharenas.runs.partition import run_partition_search
from sharenas.search.storage import (
    PASSWORD_ENV,
    open_storage,
    password,
    password_hidden,
    saved,
    scrub,
    shown,
    with_password,
)
from sharenas.workflows.session import search as run_search
from tests.test_partition_search import partition_config, trials_of

SECRET = "Pw-s3cret"

# (URL, as printed, as saved): the password hidden whatever the form, parseable or not
FORMS = [
    (
        f"postgresql://alice:{SECRET}@db.example.org/studies",
        "postgresql://alice:***@db.example.org/studies",
        "postgresql://alice@db.example.org/studies",
    ),
    (  # a port that is not a number: sqlalchemy cannot parse it
        f"postgresql://alice:{SECRET}@host:abc/db",
        "postgresql://alice:***@host:abc/db",
        "postgresql://alice@host:abc/db",
    ),
    (
        f"postgresql+psycopg://alice:{SECRET}@[::1]:5432/db",
        "postgresql+psycopg://alice:***@[::1]:5432/db",
        "postgresql+psycopg://alice@[::1]:5432/db",
    ),
    (  # percent-encoded
        "postgresql://alice:Pw%40s3cret@host/db",
        "postgresql://alice:***@host/db",
        "postgresql://alice@host/db",
    ),
    (  # unencoded @ and / in the password: the last @ ends it
        f"postgresql://alice:x@y/{SECRET}@host/db",
        "postgresql://alice:***@host/db",
        "postgresql://alice@host/db",
    ),
    (
        f"postgresql://alice@host/db?password={SECRET}",
        "postgresql://alice@host/db?password=***",
        "postgresql://alice@host/db",
    ),
    (
        f"postgresql://alice@host:5432/db?sslmode=require&PWD={SECRET}&connect_timeout=3",
        "postgresql://alice@host:5432/db?sslmode=require&PWD=***&connect_timeout=3",
        "postgresql://alice@host:5432/db?sslmode=require&connect_timeout=3",
    ),
    (  # the key percent-encoded (pass%77ord is password)
        f"postgresql://alice@host/db?pass%77ord={SECRET}",
        "postgresql://alice@host/db?pass%77ord=***",
        "postgresql://alice@host/db",
    ),
    (  # key and value encoded as one
        f"postgresql://alice@host/db?password%3D{SECRET}",
        "postgresql://alice@host/db?password=***",
        "postgresql://alice@host/db",
    ),
    (  # nested in an encoded value
        f"mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BPWD%3D{SECRET}%3BUID%3Dsa",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BPWD%3D%2A%2A%2A%3BUID%3Dsa",
        "mssql+pyodbc:///?odbc_connect=DRIVER%3Dx%3BUID%3Dsa",
    ),
    (  # no scheme at all
        f"alice:{SECRET}@host/db",
        "alice:***@host/db",
        "alice@host/db",
    ),
]
UNTOUCHED = [
    "postgresql://alice@host/db",
    "postgresql://host:5432/db?application_name=a",
    "mysql://bob@h/db",
    "sqlite:///runs/study.db",
    "sqlite:////abs/odd@name:x.db",
    "journal:///runs/a:b@c.journal",
    "not a url",
]


@pytest.mark.parametrize(("url", "printed", "written"), FORMS)
def test_a_password_is_hidden_in_every_form(url: str, printed: str, written: str) -> None:
    assert shown(url) == printed
    assert saved(url) == written
    hidden = scrub(f"could not connect to {url}: the password {password(url)} is wrong", url)
    for text in (shown(url), saved(url), hidden):
        assert SECRET not in text and "s3cret" not in text


@pytest.mark.parametrize("url", UNTOUCHED)
def test_a_url_without_a_password_is_left_as_it_is(url: str) -> None:
    assert shown(url) == saved(url) == url
    assert password(url) is None


def test_the_password_travels_apart_and_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker gets the URL without the password (config.yaml) and the password through the
    environment; with_password puts it back, in the form the driver reads."""
    assert password(f"postgresql://alice:{SECRET}@h/db") == SECRET
    assert password("postgresql://alice:Pw%40s3cret@h/db") == "Pw@s3cret"
    assert password(f"postgresql://alice@h/db?password={SECRET}") == SECRET
    monkeypatch.setenv(PASSWORD_ENV, "p@ss")
    assert with_password("postgresql://alice@h/db") == "postgresql://alice:p%40ss@h/db"
    assert with_password("postgresql://h/db") == "postgresql://h/db?password=p%40ss"
    assert with_password("sqlite:///x.db") == "sqlite:///x.db"
    assert with_password(f"postgresql://alice:{SECRET}@h/db").count(SECRET) == 1
    assert scrub("auth failed for p@ss", "postgresql://alice@h/db") == "auth failed for ***"


def test_errors_raised_with_the_url_are_scrubbed() -> None:
    import sqlalchemy.exc

    url = f"postgresql://alice:{SECRET}@host/db"
    with pytest.raises(ValueError) as caught, password_hidden(url):
        try:
            raise KeyError(f"from {url}")
        except KeyError as inner:
            raise ValueError(f"bad {SECRET}") from inner
    assert SECRET not in str(caught.value) and SECRET not in str(caught.value.__cause__)
    shown_url = r"search.study.storage.*alice:\*\*\*@"
    with pytest.raises(ConfigError, match=shown_url) as failed, password_hidden(url):
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(f"{url} is down"))
    assert SECRET not in str(failed.value)


def tiny(**study: object) -> Config:
    """The partition test config, smaller still: 2 trials on a few rows, one epoch."""
    raw = partition_config(trials=2, **study).model_dump(mode="json")
    raw["data"].update(train_size=120, val_size=40, test_size=40)
    raw["train"].update(epochs=1, threads=1)
    raw["search"]["evaluation"]["distill_steps"] = 2
    return build_config(raw)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data and teacher cache for this module's searches (the teachers are trained once)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shared_cache: Path
) -> Callable[..., tuple[int, str]]:
    """``sharenas ARGS`` in this process (as the console script runs it): (exit code, its
    standard output and error together)."""
    from sharenas.cli import main

    monkeypatch.setenv("SHARENAS_DATA", str(shared_cache))

    def run(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["sharenas", *args])
        try:
            main()
            code = 0
        except SystemExit as stop:
            code = int(stop.code or 0)
        printed = capsys.readouterr()
        return code, printed.out + printed.err

    return run


def test_the_cli_never_prints_nor_writes_a_password(
    tmp_path: Path, cli: Callable[..., tuple[int, str]]
) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(dump_config(tiny()))
    out = tmp_path / "s"
    refused = [
        f"postgresql://alice:{SECRET}@host:abc/db",  # the issue's: a port that is not a number
        f"postgresql://alice@127.0.0.1:1/db?password={SECRET}",  # nothing listens on port 1
        f"postgresql://alice:x@{SECRET}@127.0.0.1:1/db",  # an unencoded @: refused unconnected
        "postgresql://alice:Pw%2Ds3cret@127.0.0.1:1/db",  # percent-encoded
    ]
    for url in refused:  # exit 2, the message alone (a traceback would fail the test)
        code, printed = cli("search", str(config), "--storage", url, "--out", str(out), "-q")
        assert code == 2 and "search.study.storage" in printed, printed
        assert SECRET not in printed and "s3cret" not in printed
    assert "search.study.storage='postgresql://alice:***@host:abc/db'" in cli(
        "search", str(config), "--storage", refused[0], "--out", str(out)
    )[1].replace("\n", "")
    for url, _, written in FORMS[:2] + FORMS[5:6]:
        code, printed = cli("config", "show", str(config), "--set", f"search.study.storage={url}")
        assert code == 0 and SECRET not in printed and written in printed
    assert not out.exists()  # the storage is checked before anything is written
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or b"s3cret" not in path.read_bytes(), path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_explicit_storage_starts_a_fresh_search_and_resumes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., tuple[int, str]]
) -> None:
    """The issue's commands: ``--storage sqlite:///new.db --out fresh`` (a relative file) and
    ``--storage journal:///FILE`` start in a brand-new folder; ``--resume`` with the same
    --storage continues (without it, it is refused, naming the storage); a new search on the
    study is refused, and a worker started by hand (a second host) joins it."""
    from sharenas.runs.partition_worker import main as partition_worker

    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text(dump_config(tiny()))
    search = ["search", "p.yaml", "-q", "--no-baselines"]
    sqlite = [*search, "--storage", "sqlite:///new.db"]
    code, printed = cli(*sqlite, "--out", "fresh")
    assert code == 0, printed
    assert (tmp_path / "new.db").exists() and not any(Path("fresh/search").glob("study.*"))
    assert f"sqlite:///{tmp_path / 'new.db'}" in Path("fresh/search/config.yaml").read_text()
    assert cli(*sqlite, "--out", "fresh", "--resume")[0] == 0
    code, printed = cli(*search, "--out", "fresh", "--resume")  # --storage forgotten
    assert code == 2 and f"--storage 'sqlite:///{tmp_path / 'new.db'}'" in printed
    assert len(trials_of(Path("fresh/search"))) == 2  # one study, nothing evaluated again
    code, printed = cli(*sqlite, "--out", "other")
    assert code == 2 and "already holds study" in printed and "--study NAME" in printed
    assert not Path("other").exists()
    assert partition_worker(["fresh/search", "5"]) == 0  # joins the study, already complete
    journal = [*search, "--storage", f"journal://{tmp_path / 'study.journal'}", "--out", "j"]
    code, printed = cli(*journal)
    assert code == 0, printed
    assert cli(*journal, "--resume")[0] == 0
    assert len(trials_of(Path("j/search"))) == 2


def test_nothing_is_created_in_a_storage_before_the_request_is_valid(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'new.db'}"
    raw = tiny(storage=storage).model_dump(mode="json")
    raw["search"]["max_flops"] = 1.0  # no partition can meet it
    with pytest.raises(ConfigError, match="no partition can meet it"):
        run_search(build_config(raw), tmp_path / "s", baselines=False, progress=False)
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(SharenasError, match="no such folder"):  # --resume of nothing
        run_search(tiny(storage=storage), tmp_path / "t", resume=True, baselines=False)
    assert not (tmp_path / "new.db").exists()


def test_a_database_of_the_users_own_is_refused_untouched(
    tmp_path: Path, cli: Callable[..., tuple[int, str]]
) -> None:
    database = tmp_path / "user.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        connection.execute("INSERT INTO customers VALUES (1, 'Ada')")
        connection.commit()
    journal = tmp_path / "notes.txt"
    journal.write_text("my own notes\n")
    before = digest(database), digest(journal)
    config = tmp_path / "p.yaml"
    config.write_text(dump_config(tiny()))
    out = tmp_path / "s"
    code, printed = cli(
        "search", str(config), "--storage", f"sqlite:///{database}", "--out", str(out)
    )
    assert code == 2 and "search.study.storage" in printed and "not Optuna's" in printed
    assert "(customers)" in printed and "left untouched" in printed
    with pytest.raises(ConfigError, match="not Optuna's"):  # a worker started by hand
        open_storage(f"sqlite:///{database}", heartbeat=1)
    code, printed = cli(
        "search", str(config), "--storage", f"journal://{journal}", "--out", str(out)
    )
    assert code == 2 and "not an Optuna journal file" in printed
    with pytest.raises(ConfigError, match="not an Optuna journal file"):
        open_storage(f"journal://{journal}", heartbeat=1)
    assert (digest(database), digest(journal)) == before
    assert not out.exists()


def test_a_password_reaches_no_file_nor_log_of_a_search_on_postgresql(
    tmp_path: Path,
    postgres_url: str,
    shared_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The test server trusts local users, so a password in the URL is accepted and ignored:
    a whole study runs with it, and it is in no file of the folder, no log, no output."""
    monkeypatch.setenv("SHARENAS_DATA", str(shared_cache))
    with_secret = postgres_url.replace("://sharenas@", f"://sharenas:{SECRET}@")
    assert SECRET in with_secret
    out = tmp_path / "s"
    with caplog.at_level("DEBUG"):
        run_partition_search(tiny(storage=with_secret), out)
    printed = capsys.readouterr()
    assert SECRET not in caplog.text + printed.out + printed.err
    assert "sharenas@127.0.0.1" in (out / "config.yaml").read_text()
    for path in out.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path


def test_a_postgresql_database_of_the_users_own_is_refused_untouched(
    tmp_path: Path, postgres_url: str
) -> None:
    """The rule of a SQLite file holds for a server's database: tables that are not Optuna's
    mean the database is someone's own, and no study table is added beside them."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("CREATE TABLE customers (id INTEGER)"))
        with pytest.raises(ConfigError, match=r"not Optuna's \(customers\)"):
            run_search(tiny(storage=postgres_url), tmp_path / "s", baselines=False)
        with engine.connect() as connection:
            assert sqlalchemy.inspect(connection).get_table_names() == ["customers"]
    finally:
        engine.dispose()
    assert not (tmp_path / "s").exists()


def test_workers_opening_a_new_database_at_once_all_open_it(tmp_path: Path) -> None:
    """Two workers started together both create the tables of a new SQLite study (a race that
    failed one of them with an IntegrityError or "table studies already exists")."""
    import threading

    url = f"sqlite:///{tmp_path / 'study.db'}"
    together = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_it() -> None:
        together.wait()
        try:
            open_storage(url, 1)
        except BaseException as error:  # collected, so the test names it
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
