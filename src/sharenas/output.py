"""What the command line prints: tables as a rich table (on a terminal: its width; piped: as
wide as the content, never wrapped mid-word), Markdown, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

from sharenas.engine.distributed import is_main_process
from sharenas.errors import ConfigError
from sharenas.report.document import Part, markdown, tables
from sharenas.tabular import Table, raw
from sharenas.terminal_table import renderable

FORMATS = ("table", "md", "json", "csv")

TEXT_WIDTH = 100  # a report's paragraphs when piped
console = Console(width=None if sys.stdout.isatty() else 10_000, quiet=not is_main_process())


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}.")


def table(shown: Table, fmt: str = "table", lines: bool = False) -> None:
    """Print ``shown`` in ``fmt``: formatted for people (table, md), raw values for programs
    (json, csv); under torchrun rank 0 alone."""
    if not is_main_process():
        return
    if fmt == "json":
        print(json.dumps(shown.records(), indent=2, allow_nan=False))
    elif fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(shown.csv_rows())
        print(buffer.getvalue(), end="")
    elif fmt == "md":
        print(f"**{shown.title}**\n\n{shown.markdown()}", end="")
    else:
        console.print(renderable(shown, console.width, lines))


def document(parts: list[Part], fmt: str = "table", facts: dict[str, Any] | None = None) -> None:
    """A report (:mod:`sharenas.report.document`): its text and tables for people (table: rich
    text, at most ``TEXT_WIDTH`` wide when piped; md); for programs its ``facts`` and tables
    (json: the facts and ``tables``, records by table title; csv: the first table, the others
    named on standard error)."""
    if not is_main_process():
        return
    found = tables(parts)
    if fmt == "md":
        print(markdown(parts), end="")
    elif fmt == "json":
        shown = raw({**(facts or {}), "tables": {t.title: t.records() for t in found}})
        print(json.dumps(shown, indent=2, allow_nan=False))
    elif fmt == "csv":
        table(found[0], "csv")
        for other in found[1:]:
            say(f"not in the CSV: the table {other.title!r} (--format json or md has it)", fmt)
    else:
        for part in parts:
            if isinstance(part, str):  # piped, a paragraph is not padded to the console's width
                console.print(Markdown(part), width=min(console.width, TEXT_WIDTH))
            else:
                console.print(renderable(part, console.width))
            console.print()


def runs_table(records: list[dict[str, Any]], fmt: str = "table", title: str = "runs") -> None:
    """The comparison table of run records (metrics.json)."""
    from sharenas.report.runs import table_rows

    table(table_rows(records, title), fmt)


def seeds_report(records: dict[int, list[dict[str, Any]]], report: Path, fmt: str) -> None:
    """``--seeds``: the report over the seeds for people (table: rich text; md: its Markdown),
    and for programs every run of every seed with its raw numbers (json, csv)."""
    from sharenas.report.runs import seed_rows

    if fmt in ("json", "csv"):
        table(seed_rows(records), fmt)
    else:
        document([report.read_text(encoding="utf-8")], fmt)


def say(text: str, fmt: str = "table") -> None:
    """A line for people: on standard output with ``table``, on standard error otherwise (so
    that md, json and csv output stays machine-readable)."""
    if fmt == "table":
        console.print(escape(text), soft_wrap=True)
    elif is_main_process():
        print(text, file=sys.stderr)
