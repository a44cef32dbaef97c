"""A report as a list of parts, Markdown text (headings, paragraphs) and tables, so that one
report is written as ``report.md`` and shown as rich text and tables, JSON or CSV."""

from __future__ import annotations

from sharenas.tabular import Table

Part = str | Table


def markdown(parts: list[Part]) -> str:
    """The report's Markdown: the parts separated by blank lines."""
    return "\n\n".join(p.markdown().rstrip() if isinstance(p, Table) else p for p in parts) + "\n"


def tables(parts: list[Part]) -> list[Table]:
    return [p for p in parts if isinstance(p, Table)]
