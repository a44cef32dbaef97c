"""Every ``sharenas`` command shown in the README and in docs/ runs.

The rule, page by page (README.md, then docs/**/*.md in name order):

- Only fenced blocks tagged ``bash`` (or ``sh``, ``shell``, ``console``) are run. A ``text`` block
  is output or a synopsis and is never run, so the command synopsis with its placeholders lives in
  a ``text`` block. A line of a run block is a command when it starts with ``sharenas `` (or
  ``$ sharenas ``); other lines (pip, python, torchrun, exports) are not run. A trailing ``\\``
  joins the next line; ``#`` starts a shell comment (``# after a kill``), cut before running.
- A command in a run block with a placeholder (an upper-case word such as ``CONFIG``, ``NAME`` or
  ``RUN``, synopsis brackets ``[…]`` or ``<n>``) fails this test: put it in a ``text`` block.
- Each page's commands run in order, in one fresh working folder (so a later command finds the
  folders an earlier one wrote: ``--arch runs/mm-fusion/search/arch.json``), in this process
  through the typer app (no interpreter start-up per command), and must exit with status 0.
- Each command is shrunk: ``--smoke`` is added where the command accepts it (train, search, auto);
  ``affinity``, which has none, gets the same budget as ``--set`` overrides.
- The reader's own input files that the pages name (``people.csv``, ``census-income.test``,
  ``scenes.npy``) are written just before the first command that needs them (:data:`INPUTS`).
- :data:`SKIP` lists the few commands that cannot run here, each with its reason; every skipped
  command is reported (``-rA`` or the test's output).

Datasets are fetched from their real sources into the test run's shared cache (``online``), so
the test is marked ``integration``.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN_LANGUAGES = {"bash", "sh", "shell", "console"}
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w-]*)")
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]+\b|\[[^\]]*\]|<[^>]+>")

# (a substring of the command, why it cannot run here): keep this short.
SKIP: list[tuple[str, str]] = [
    (
        "postgresql://",
        "needs a PostgreSQL server (tests/test_storage_safety.py and the partition "
        "tests run one of their own)",
    ),
    ("/shared/", "several hosts sharing one folder (docs/scale-out.md)"),
    (
        "patients",
        "the reader's own CSV in docs/own-data.md (tests/test_tabular_csv.py runs "
        "tabular-csv configs)",
    ),
    (
        "--workers",
        "starts worker processes, each a fresh interpreter importing torch (over a minute here); "
        "tests/test_partition_search.py and tests/test_auto_parallel.py run workers",
    ),
    (
        "--thorough --time 2 --seeds 0,1,2",
        "every space searched on three seeds: minutes even "
        "with --smoke (tests/test_auto.py covers --thorough)",
    ),
]

# The budget --smoke sets (sharenas.runs.smoke.SMOKE), for commands without the option.
SMOKE_SETS = ["train.epochs=2", "train.max_batches=2", "data.limit=128"]


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str

    @property
    def args(self) -> list[str]:
        """The arguments after ``sharenas``, the comment cut."""
        return shlex.split(self.text, comments=True)[1:]


def extract_commands(page: Path, root: Path = ROOT) -> list[Command]:
    """Every ``sharenas`` command of the run blocks of ``page`` (see the module's rule)."""
    commands: list[Command] = []
    fence: str | None = None
    run = False
    pending: tuple[int, str] | None = None
    lines = page.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        opened = FENCE.match(line)
        if fence is None:
            if opened:
                fence, run = opened.group(2), opened.group(3).lower() in RUN_LANGUAGES
            continue
        if line.strip().startswith(fence):
            fence, pending = None, None
            continue
        if not run:
            continue
        if pending is not None:
            start, text = pending
            text = text + " " + line.strip()
        else:
            stripped = line.strip().removeprefix("$ ")
            if not stripped.startswith("sharenas ") and stripped != "sharenas":
                continue
            start, text = number, stripped
        if text.endswith("\\"):
            pending = (start, text[:-1].rstrip())
            continue
        pending = None
        commands.append(Command(str(page.relative_to(root)), start, text))
    return commands


def placeholders(command: Command) -> list[str]:
    """The placeholder words of a command (upper-case words, ``[…]``), comments left out."""
    return PLACEHOLDER.findall(" ".join(command.args))


def skip_reason(command: Command) -> str | None:
    return next((why for needle, why in SKIP if needle in command.text), None)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def shrunk(args: list[str]) -> list[str]:
    """The command with the smoke budget: ``--smoke`` where it exists, else ``--set`` overrides
    for a command that reads a config and trains (``affinity``)."""
    import typer

    from sharenas.cli import app

    group = typer.main.get_command(app)
    names = [a for a in args if not a.startswith("-")]
    command = group
    for name in names:
        sub = getattr(command, "commands", {}).get(name)
        if sub is None:
            break
        command = sub
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    if "--smoke" in options:
        return args if "--smoke" in args else [*args, "--smoke"]
    if names[:1] == ["affinity"]:
        return [*args, *(part for s in SMOKE_SETS for part in ("--set", s))]
    return args


def _census_rows(cache: Path, n: int = 20) -> list[str]:
    lines = (cache / "census-income" / "test.csv").read_text(encoding="utf-8").splitlines()
    return lines[:n]


def _people_csv(cache: Path, path: Path) -> None:
    """The raw rows under a header of their column names, without the raw file's space after
    each comma (a value's own trailing space, as in the training vocabulary, is kept)."""
    from sharenas.data.census_income import COLUMN_NAMES

    rows = [",".join(row.split(", ")) for row in _census_rows(cache)]
    path.write_text(",".join(COLUMN_NAMES) + "\n" + "\n".join(rows) + "\n")


def _census_test(cache: Path, path: Path) -> None:
    path.write_text("\n".join(_census_rows(cache)) + "\n")


def _scenes(cache: Path, path: Path) -> None:
    rng = np.random.default_rng(0)
    np.save(path, rng.integers(0, 256, (4, 64, 64), dtype=np.uint8))


# The reader's own inputs that the pages name, written where a command first names them.
INPUTS: dict[str, Callable[[Path, Path], None]] = {
    "people.csv": _people_csv,
    "census-income.test": _census_test,
    "scenes.npy": _scenes,
}


def _commands_by_page() -> dict[str, list[Command]]:
    by_page = {}
    for page in pages():
        commands = extract_commands(page)
        if commands:
            by_page[str(page.relative_to(ROOT))] = commands
    return by_page


COMMANDS = _commands_by_page()


def test_the_pages_show_commands() -> None:
    assert "README.md" in COMMANDS
    assert sum(map(len, COMMANDS.values())) >= 30
    for needle, _ in SKIP:  # no stale entry
        assert any(needle in c.text for cs in COMMANDS.values() for c in cs), needle


def test_no_placeholder_in_a_run_block() -> None:
    found = [
        f"{c.page}:{c.line}: {c.text} ({', '.join(placeholders(c))})"
        for commands in COMMANDS.values()
        for c in commands
        if placeholders(c)
    ]
    assert not found, "placeholders in a bash block (move the line to a text block):\n" + (
        "\n".join(found)
    )


@pytest.mark.integration
@pytest.mark.parametrize("page", sorted(COMMANDS))
def test_the_commands_of_a_page_run(
    page: str, online: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sharenas.cli import app

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    report = []
    for command in COMMANDS[page]:
        why = skip_reason(command)
        if why:
            report.append(f"skipped {command.page}:{command.line}: {command.text} ({why})")
            continue
        for name, write in INPUTS.items():
            if name in command.args and not (tmp_path / name).exists():
                write(online, tmp_path / name)
        args = shrunk(command.args)
        started = time.perf_counter()
        result = runner.invoke(app, args)
        seconds = time.perf_counter() - started
        report.append(f"{seconds:5.1f} s  sharenas {' '.join(args)}")
        assert result.exit_code == 0, (
            f"{command.page}:{command.line}: sharenas {' '.join(args)} exited with "
            f"{result.exit_code}:\n{result.output[-3000:]}\n{result.exception!r}"
        )
    print("\n".join(report))


def test_the_extractor_on_a_page(tmp_path: Path) -> None:
    """The rule itself, on a page with every case."""
    page = tmp_path / "page.md"
    page.write_text(
        "# A page\n\n"
        "```text\nsharenas train CONFIG [--out DIR]\n```\n\n"
        "```bash\n"
        "pip install sharenas\n"
        "sharenas train census-income --out runs/a   # a comment\n"
        "$ sharenas search multimnist-fusion --out runs/b \\\n"
        "    --set train.epochs=1\n"
        "python -m sharenas.runs.partition_worker runs/b/search 3\n"
        "sharenas report runs/RUN runs/<n>\n"
        "```\n\n"
        "~~~sh\nsharenas evaluate runs/a\n~~~\n"
        "```yaml\nsharenas: not a command\n```\n"
    )
    commands = extract_commands(page, tmp_path)
    assert [(c.line, c.args) for c in commands] == [
        (9, ["train", "census-income", "--out", "runs/a"]),
        (10, ["search", "multimnist-fusion", "--out", "runs/b", "--set", "train.epochs=1"]),
        (13, ["report", "runs/RUN", "runs/<n>"]),
        (17, ["evaluate", "runs/a"]),
    ]
    assert [placeholders(c) for c in commands] == [[], [], ["RUN", "<n>"], []]
    assert shrunk(commands[0].args)[-1] == "--smoke"
    assert shrunk(["train", "x", "--smoke"]) == ["train", "x", "--smoke"]
    assert shrunk(["affinity", "census-income"])[2:4] == ["--set", "train.epochs=2"]
    assert shrunk(commands[3].args) == commands[3].args
    assert skip_reason(Command("p", 1, "sharenas search x --storage postgresql://h/db"))
    assert skip_reason(commands[0]) is None
