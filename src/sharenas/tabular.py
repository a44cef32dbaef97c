"""A table of raw values with a formatter per column: people read the formatted text (the
terminal table, Markdown), programs the raw numbers (JSON records, CSV)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

Formatter = Callable[[Any], str]
MISSING = "–"


def text(value: Any) -> str:
    return str(value)


def number(digits: int = 4) -> Formatter:
    """``digits`` significant digits (``1.235``, ``1.2e+07``)."""
    return lambda value: f"{value:.{digits}g}"


def fixed(digits: int) -> Formatter:
    """``digits`` decimals."""
    return lambda value: f"{value:.{digits}f}"


def signed(digits: int = 2) -> Formatter:
    """``digits`` decimals with the sign (``+0.00``): a difference."""
    return lambda value: f"{value:+.{digits}f}"


def grouped(value: Any) -> str:
    """A count with thousands separators (``89,826``)."""
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Spread:
    """A mean ± standard deviation cell (JSON and CSV: ``{"mean": …, "std": …}``)."""

    mean: float
    std: float


@dataclass(frozen=True)
class Column:
    """A column: its name, how its values read, and whether it holds a short key (a run or model
    name) that is never wrapped on a terminal."""

    name: str
    show: Formatter = text
    key: bool = False


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def display(column: Column, value: Any) -> str:
    """``value`` as people read it in ``column`` (a label among numbers is shown as it is)."""
    if _missing(value):
        return MISSING
    if isinstance(value, str):
        return value
    if isinstance(value, Spread):
        return f"{display(column, value.mean)} ± {value.std:.2g}"
    return column.show(value)


def raw(value: Any) -> Any:
    """``value`` for JSON: numbers as they are, None for a missing or infinite one."""
    if is_dataclass(value) and not isinstance(value, type):  # a Spread, a paired difference
        return raw(asdict(value))
    if isinstance(value, dict):  # a cell of several numbers (a split's statistics)
        return {key: raw(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [raw(v) for v in value]
    value = value.item() if hasattr(value, "item") else value  # a NumPy or torch scalar
    if _missing(value) or (isinstance(value, float) and math.isinf(value)):
        return None
    return value


def csv_cell(value: Any) -> str:
    """``value`` for CSV: full precision, empty for a missing one."""
    value = raw(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class Table:
    """A titled table of raw rows."""

    title: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def shown(self) -> list[list[str]]:
        """Every row formatted for people."""
        pairs = (zip(self.columns, row, strict=True) for row in self.rows)
        return [[display(c, v) for c, v in pair] for pair in pairs]

    def records(self) -> list[dict[str, Any]]:
        """Every row as a mapping of column name to raw value."""
        return [{c: raw(v) for c, v in zip(self.names, row, strict=True)} for row in self.rows]

    def csv_rows(self) -> list[list[str]]:
        return [self.names, *([csv_cell(v) for v in row] for row in self.rows)]

    def markdown(self) -> str:
        """The formatted rows as a Markdown table."""
        lines = ["| " + " | ".join(self.names) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(map(_markdown_cell, row)) + " |" for row in self.shown()]
        return "\n".join(lines) + "\n"


def _markdown_cell(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", "<br>")
