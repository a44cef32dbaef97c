"""Where sharenas writes (:mod:`sharenas.runs.out_folder`): only into new, empty or its own folders
of the same kind, never through a link out of one, never over its inputs or a run's own files,
and over an existing output file only with ``--force``. Each case a hostile tester found, through
the command line as a user meets it: exit 2, the path named, the victim's bytes unchanged.

The commands run through the console script's entry point (``sharenas.cli.main``) in this
process, so that the module stays fast."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from sharenas.errors import SharenasError
from sharenas.runs.out_folder import MARKER, OutPathError

CONFIG = (
    "data: {name: synthetic-mmoe, train_size: 128, val_size: 32, test_size: 32, dim: 8}\n"
    "model: {arch: hard-sharing, backbone: {name: mlp, widths: [8]}}\n"
    "train: {epochs: 1, batch_size: 32, threads: 1}\n"
)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """``sharenas ARGS`` in this process: its exit status, stdout and stderr."""
    from sharenas.cli import main

    def run(*args: str | Path) -> Result:
        monkeypatch.setattr(sys, "argv", ["sharenas", *map(str, args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as stopped:
            main()
        out, err = capsys.readouterr()
        code = stopped.value.code
        return Result(code if isinstance(code, int) else 1, out, err)

    return run


def refused(result: Result, *names: str | Path) -> None:
    assert result.code == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    shown = " ".join(result.stderr.split())  # rich may wrap long lines
    for name in names:
        assert str(name) in shown, (name, result.stderr)


def digest(*paths: Path) -> dict[str, str]:
    """Every file under ``paths`` by its SHA-256 (links not followed)."""
    files: list[Path] = []
    for path in paths:
        files += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder, trained once for the module (copy it before changing it)."""
    import sharenas

    root = tmp_path_factory.mktemp("finished")
    (root / "c.yaml").write_text(CONFIG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHARENAS_DATA", str(root / "cache"))
        patch.setenv("SHARENAS_OFFLINE", "1")
        sharenas.train(root / "c.yaml", root / "run", progress=False)
    return root / "run"


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    target = tmp_path / "run"
    shutil.copytree(finished, target)
    return target


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG)
    return path


def test_a_lock_that_is_a_link_never_touches_its_target(run: Path, config: Path, tmp_path, cli):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (run / ".lock").unlink()
    (run / ".lock").symlink_to(victim)
    before = digest(victim, run)
    result = cli("train", config, "--out", run, "--resume", "-q")
    refused(result, run / ".lock")
    assert digest(victim, run) == before
    result = cli("train", config, "--out", run, "-q")  # refused anyway: still untouched
    refused(result, run / ".lock")
    assert victim.read_text() == "precious\n"

    from sharenas.runs.lock import folder_lock  # the lock alone, whoever calls it

    with pytest.raises(OutPathError, match="symbolic link"), folder_lock(run):
        pass
    assert victim.read_text() == "precious\n"
    (run / ".lock").unlink()
    (run / ".lock").mkdir()
    with pytest.raises(OutPathError, match="is a folder"), folder_lock(run):
        pass
    refused(cli("train", config, "--out", run, "--resume", "-q"), run / ".lock")


def test_export_and_predict_never_replace_a_runs_files_nor_their_inputs(run: Path, tmp_path, cli):
    rows = tmp_path / "rows.csv"
    pd.DataFrame({f"x{i}": [0.1 * i, -0.2 * i] for i in range(8)}).to_csv(rows, index=False)
    before = digest(run, rows)
    for force in ([], ["--force"]):
        refused(cli("export", run, "--out", run / "best.pt", *force), run / "best.pt")
        refused(cli("export", run, "--out", run / "config.yaml", *force), "config.yaml")
        refused(cli("predict", run, rows, "--out", rows, *force), rows, "input")
        refused(cli("predict", run, rows, "--out", run / "history.jsonl", *force), "history")
        refused(cli("predict", run, rows, "--out", run, *force), run, "input")
    assert digest(run, rows) == before

    mine = tmp_path / "model.pt2"
    mine.write_bytes(b"somebody's file")
    refused(cli("export", run, "--format", "exported-program", "--out", mine), mine, "--force")
    assert mine.read_bytes() == b"somebody's file"
    done = cli("export", run, "--format", "exported-program", "--out", mine, "--force")
    assert done.code == 0, done.stderr
    assert mine.read_bytes() != b"somebody's file"
    default = cli("export", run, "--format", "exported-program")  # RUN/model.pt2, new
    assert default.code == 0 and (run / "model.pt2").exists(), default.stderr
    refused(cli("export", run, "--format", "exported-program"), run / "model.pt2", "--force")

    table = tmp_path / "p.csv"
    table.write_text("mine\n")
    refused(cli("predict", run, rows, "--out", table), table, "--force")
    assert table.read_text() == "mine\n"
    assert cli("predict", run, rows, "--out", table, "--force").code == 0
    assert "task1" in table.read_text()
    assert digest(rows) == {str(rows): before[str(rows)]}


def test_a_users_folder_is_refused_by_every_command(run: Path, config: Path, tmp_path, cli):
    proj = tmp_path / "proj"
    (proj / "recommended").mkdir(parents=True)
    (proj / "recommended" / "notes.txt").write_text("mine\n")
    (proj / "report.md").write_text("# my report\n")
    (proj / "report.png").write_bytes(b"\x89PNG mine")
    (proj / "config.yaml").write_text(CONFIG)
    (proj / "inputs.json").write_text('{"mine": true}\n')
    rows = tmp_path / "rows.csv"
    pd.DataFrame({f"x{i}": [0.1 * i] for i in range(8)}).to_csv(rows, index=False)
    before = digest(proj)
    checks = [
        ("auto", config, "--budget", "hard-sharing", "--out", proj),
        ("train", proj / "config.yaml", "--out", proj),
        ("train", config, "--out", proj, "--resume"),
        ("search", config, "--out", proj, "--no-baselines"),
        ("report", run, "--out", proj),
        ("predict", run, rows, "--out", proj),
    ]
    for args in checks:
        refused(cli(*args, "-q"), proj, "choose")
    assert digest(proj) == before
    assert not (proj / MARKER).exists() and not (proj / ".lock").exists()


def test_a_report_goes_into_new_or_its_own_folder_only(run: Path, tmp_path, cli):
    report = tmp_path / "rep"
    assert cli("report", run, "--out", report, "-q").code == 0
    assert json.loads((report / MARKER).read_text())["kind"] == "report"
    assert cli("report", run, "--out", report, "-q").code == 0  # a rerun replaces its report
    before = digest(run)
    refused(cli("report", run, "--out", run, "-q"), run, "input")
    assert digest(run) == before


def test_the_root_the_home_and_the_current_folder_are_refused(
    config: Path, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("mine\n")
    monkeypatch.setenv("HOME", str(home))
    for command in (("train", config), ("search", config), ("auto", config, "--budget", "1G")):
        refused(cli(*command, "--out", "/", "-q"), "/:", "root of the file system")
        refused(cli(*command, "--out", home, "-q"), home, "home folder")
    refused(cli("report", tmp_path, "--out", "/", "-q"), "root of the file system")
    monkeypatch.chdir(tmp_path)
    refused(cli("train", config, "--out", ".", "-q"), "current folder")
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]
    assert not (tmp_path / MARKER).exists()


def test_a_training_run_never_lands_in_a_search_folder(config: Path, tmp_path: Path, cli):
    search = tmp_path / "s.yaml"
    search.write_text(CONFIG.replace("arch: hard-sharing, ", "") + "search: {space: fusion}\n")
    out = tmp_path / "search"
    assert cli("search", search, "--out", out, "--no-baselines", "-q").code == 0
    assert json.loads((out / MARKER).read_text())["kind"] == "search"
    before = digest(out)
    for args in (("--out", out), ("--out", out, "--resume")):
        refused(cli("train", config, *args, "-q"), out, "sharenas search folder")
    refused(cli("auto", config, "--budget", "1G", "--out", out, "-q"), out, "search folder")
    assert digest(out) == before
    (out / "baselines").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    refused(cli("search", search, "--out", out, "--resume", "-q"), out / "baselines", "link")


def test_a_link_inside_a_run_folder_is_never_followed(run: Path, config: Path, tmp_path, cli):
    victim = tmp_path / "victim.jsonl"
    victim.write_text("precious\n")
    (run / "history.jsonl").unlink()
    (run / "history.jsonl").symlink_to(victim)
    refused(cli("train", config, "--out", run, "--resume", "--set", "train.epochs=2", "-q"), "link")
    assert victim.read_text() == "precious\n"


def test_earlier_run_folders_and_seed_layouts_keep_working(run: Path, config: Path, tmp_path, cli):
    (run / MARKER).unlink()  # a run folder an earlier version wrote
    longer = cli("train", config, "--out", run, "--resume", "--set", "train.epochs=2", "-q")
    assert longer.code == 0, longer.stderr
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == 2
    assert json.loads((run / MARKER).read_text())["kind"] == "run"
    seeds = tmp_path / "seeds"
    assert cli("train", config, "--seeds", "0,1", "--out", seeds, "-q").code == 0
    assert cli("train", config, "--seeds", "0,1", "--out", seeds, "-q").code == 0  # kept
    assert json.loads((seeds / "seed-1" / MARKER).read_text())["kind"] == "run"
    refused(cli("train", config, "--out", seeds, "-q"), seeds, "sharenas seeds folder")
    (run / MARKER).write_text('{"kind": "auto"}\n')  # hand-written: another kind
    refused(cli("train", config, "--out", run, "--resume", "-q"), run, "auto folder")
    (run / MARKER).write_text("junk")
    refused(cli("train", config, "--out", run, "--resume", "-q"), run / MARKER, "not a marker")


def test_auto_delivers_beside_the_files_it_did_not_write(run: Path, tmp_path: Path) -> None:
    """``recommended/`` gets the chosen run's files; an export or a note there is kept, the run
    files of an earlier choice that this one lacks are removed; a link there is refused."""
    from sharenas.workflows.auto import deliver
    from sharenas.workflows.auto_scores import Candidate

    out = tmp_path / "auto"
    chosen = Candidate("hard-sharing", "baseline", None, None, run, {}, {})
    target = deliver(chosen, out)
    assert digest(target / "best.pt") != {} and (target / "checkpoint.pt").exists()
    (target / "notes.txt").write_text("mine\n")
    (target / "model.onnx").write_bytes(b"an export")
    (run / "checkpoint.pt").unlink()
    deliver(chosen, out)
    assert (target / "notes.txt").read_text() == "mine\n"
    assert (target / "model.onnx").read_bytes() == b"an export"
    assert not (target / "checkpoint.pt").exists()
    assert (target / "best.pt").read_bytes() == (run / "best.pt").read_bytes()
    (out / MARKER).write_text('{"format": "sharenas-folder/1", "kind": "auto"}\n')
    shutil.rmtree(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine\n")
    target.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(SharenasError, match="symbolic link"):
        deliver(chosen, out)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]


def test_a_folder_holding_an_input_is_refused_even_when_it_is_sharenas_own(tmp_path: Path):
    from sharenas.runs.out_folder import check_folder, make_folder

    folder = make_folder(tmp_path / "r", "run")
    rows = folder / "rows.csv"
    rows.write_text("x\n1\n")
    with pytest.raises(OutPathError, match="rows.csv, an input of this command"):
        check_folder(folder, "run", [rows])
    assert check_folder(folder, "run") == folder  # its own folder, without that input
    with pytest.raises(OutPathError, match="is a file, not a folder"):
        check_folder(rows, "run")
