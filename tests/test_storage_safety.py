"""The partition study's storage: its password never printed nor saved, an explicit storage that
starts and resumes a search, and a database of the user's own left untouched."""

import hashlib
import sqlite3
from pathlib import Path

import pytest

from sharenas.config import dump_config
from sharenas.errors import ConfigError, SharenasError
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
from sharenas.workflows.session import search
from tests.conftest import run_cli
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


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://alice:{SECRET}@127.0.0.1:abc/db",  # malformed port
        f"postgresql://alice@127.0.0.1:1/db?password={SECRET}",  # nothing listens on port 1
        f"postgresql://alice:x@{SECRET}@127.0.0.1:1/db",  # an unencoded @: refused unconnected
    ],
)
def test_the_cli_never_prints_nor_writes_a_password(tmp_path: Path, url: str) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(dump_config(partition_config(trials=2)))
    out = tmp_path / "s"
    result = run_cli("search", str(config), "--storage", url, "--out", str(out), "-q")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "search.study.storage" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert not out.exists()  # the storage is checked before anything is written
    for path in tmp_path.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path


def test_config_show_never_prints_a_password(tmp_path: Path) -> None:
    config = tmp_path / "p.yaml"
    config.write_text(dump_config(partition_config(trials=2)))
    for url, _, written in FORMS[:2] + FORMS[5:6]:
        result = run_cli("config", "show", str(config), "--set", f"search.study.storage={url}")
        assert result.returncode == 0, result.stderr
        assert SECRET not in result.stdout + result.stderr and written in result.stdout


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_an_explicit_storage_starts_a_fresh_search_and_resumes_it(
    tmp_path: Path, kind: str
) -> None:
    """``--storage`` on a brand-new folder starts; ``--resume`` (with or without --storage)
    continues; a second search on the same study is refused, a worker joins it."""
    from sharenas.runs.partition_worker import main as partition_worker

    file = tmp_path / ("study.db" if kind == "sqlite" else "study.journal")
    config = partition_config(trials=2, storage=f"{kind}://{'/' if kind == 'sqlite' else ''}{file}")
    out = tmp_path / "fresh"
    search(config, out, baselines=False, progress=False)
    assert len([t for t in trials_of(out / "search") if t["state"] == "COMPLETE"]) == 2
    assert not any((out / "search").glob("study.*"))  # the study is in the given storage
    recorded = (out / "search" / "config.yaml").read_text()
    assert str(file) in recorded
    search(config, out, resume=True, baselines=False, progress=False)
    unset = partition_config(trials=2)  # the storage recorded in the folder is used
    search(unset, out, resume=True, baselines=False, progress=False)
    assert len(trials_of(out / "search")) == 2  # the same study, nothing evaluated again
    with pytest.raises(ConfigError, match=r"already holds study .*--resume.*--study NAME"):
        search(config, tmp_path / "other", baselines=False, progress=False)
    assert not (tmp_path / "other").exists()
    assert partition_worker([str(out / "search"), "5"]) == 0  # a second host's worker joins


def test_a_relative_sqlite_storage_starts_in_a_new_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's command: ``--storage sqlite:///new.db --out fresh``, through the CLI."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "p.yaml"
    config.write_text(dump_config(partition_config(trials=2)))
    args = ["search", str(config), "--storage", "sqlite:///new.db", "--out", "fresh", "-q"]
    first = run_cli(*args, "--no-baselines", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "new.db").exists()
    again = run_cli(*args, "--no-baselines", "--resume", cwd=tmp_path)
    assert again.returncode == 0, again.stderr


def test_nothing_is_created_in_a_storage_before_the_request_is_valid(tmp_path: Path) -> None:
    from sharenas.config import build_config

    raw = partition_config(trials=2, storage=f"sqlite:///{tmp_path / 'new.db'}")
    tiny = raw.model_dump(mode="json")
    tiny["search"]["max_flops"] = 1.0  # no partition can meet it
    with pytest.raises(ConfigError, match="no partition can meet it"):
        search(build_config(tiny), tmp_path / "s", baselines=False, progress=False)
    assert not (tmp_path / "new.db").exists()
    with pytest.raises(SharenasError, match="no such folder"):  # --resume of nothing
        search(raw, tmp_path / "t", resume=True, baselines=False, progress=False)
    assert not (tmp_path / "new.db").exists()


def test_a_database_of_the_users_own_is_refused_untouched(tmp_path: Path) -> None:
    database = tmp_path / "user.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
        connection.execute("INSERT INTO customers VALUES (1, 'Ada')")
    connection.close()
    journal = tmp_path / "notes.txt"
    journal.write_text("my own notes\n")
    before = digest(database), digest(journal)
    config = partition_config(trials=2, storage=f"sqlite:///{database}")
    with pytest.raises(ConfigError, match=r"search.study.storage.*not Optuna's \(customers\)"):
        search(config, tmp_path / "s", baselines=False, progress=False)
    with pytest.raises(ConfigError, match="not Optuna's"):  # a worker started by hand
        open_storage(f"sqlite:///{database}", heartbeat=1)
    config = partition_config(trials=2, storage=f"journal://{journal}")
    with pytest.raises(ConfigError, match="not an Optuna journal file"):
        search(config, tmp_path / "s", baselines=False, progress=False)
    with pytest.raises(ConfigError, match="not an Optuna journal file"):
        open_storage(f"journal://{journal}", heartbeat=1)
    assert (digest(database), digest(journal)) == before
    assert not (tmp_path / "s").exists()
    path = tmp_path / "p.yaml"
    path.write_text(dump_config(partition_config(trials=2)))
    result = run_cli(
        "search", str(path), "--storage", f"sqlite:///{database}", "--out", str(tmp_path / "c")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr  # through the CLI
    assert "not Optuna's" in result.stderr and digest(database) == before[0]


def test_a_password_reaches_no_file_of_a_search_on_postgresql(
    tmp_path: Path, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The test server trusts local users, so a password in the URL is accepted and ignored:
    a whole search runs with it, and it is found in no file of the folder and no log."""
    with_secret = postgres_url.replace("://sharenas@", f"://sharenas:{SECRET}@")
    assert SECRET in with_secret
    out = tmp_path / "s"
    with caplog.at_level("DEBUG"):
        search(partition_config(trials=2, storage=with_secret), out, baselines=False)
    assert SECRET not in caplog.text
    assert "sharenas@" in (out / "search" / "config.yaml").read_text()
    for path in out.rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path
