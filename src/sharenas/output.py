"""What the command line prints: tables as a rich table (on a terminal: its width; piped: as
wide as the content, never wrapped mid-word), Markdown, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sharenas.engine.distributed import is_main_process
from sharenas.errors import ConfigError

FORMATS = ("table", "md", "json", "csv")

console = Console(width=None if sys.stdout.isatty() else 10_000, quiet=not is_main_process())


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}.")


def table(title: str, columns: list[str], rows: list[list[str]], fmt: str = "table") -> None:
    """Print ``rows`` under ``columns`` in ``fmt`` (under torchrun: rank 0 alone)."""
    if not is_main_process():
        return
    if fmt == "json":
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows([columns, *rows])
        print(buffer.getvalue(), end="")
    elif fmt == "md":
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        rich_table = Table(title=title)
        for column in columns:
            rich_table.add_column(column, overflow="fold")
        for row in rows:
            rich_table.add_row(*(escape(cell) for cell in row))
        console.print(rich_table)


def runs_table(records: list[dict[str, Any]], fmt: str = "table", title: str = "runs") -> None:
    """The comparison table of run records (metrics.json)."""
    from sharenas.report.runs import table_rows

    columns, rows = table_rows(records)
    table(title, columns, rows, fmt)


def affinity_table(record: dict[str, Any], fmt: str = "table") -> None:
    """TAG's lookahead affinity in %: row i, column j is how much a step on task i lowered task
    j's loss; then each task's group."""
    tasks = record["tasks"]
    rows = [
        [f"{task} (group {group})", *(f"{100 * v:+.2f}" for v in values)]
        for task, group, values in zip(tasks, record["groups"], record["lookahead"], strict=True)
    ]
    title = f"lookahead affinity, % (step on row → loss of column; {record['measurements']} steps)"
    table(title, ["step on", *tasks], rows, fmt)


def say(text: str, fmt: str = "table") -> None:
    """A line for people: on standard output with ``table``, on standard error otherwise (so
    that md, json and csv output stays machine-readable)."""
    if fmt == "table":
        console.print(escape(text), soft_wrap=True)
    elif is_main_process():
        print(text, file=sys.stderr)
