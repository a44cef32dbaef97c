"""A :class:`~sharenas.tabular.Table` as a rich table that never breaks a word: columns narrow
at spaces down to their longest word (a key column, such as a model's name, not at all); a table
too wide even so is split into several tables of its columns, each with the key columns; one
that cannot be split so is shown a row at a time, its columns as lines."""

from __future__ import annotations

from rich.cells import cell_len
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table as RichTable

from sharenas.tabular import Table

PADDING = 3  # a column's border and its two spaces of padding


def _widest_line(cells: list[str]) -> int:
    return max((cell_len(line) for cell in cells for line in cell.splitlines() or [""]), default=0)


def _longest_word(cells: list[str]) -> int:
    return max((cell_len(word) for cell in cells for word in cell.split()), default=0)


def column_widths(table: Table, width: int) -> list[int] | None:
    """Each column's width so that the table fits ``width`` (the widest column narrowed first,
    none below its longest word, a key column never); None when it cannot fit."""
    shown = table.shown()
    widths, floors = [], []
    for index, column in enumerate(table.columns):
        cells = [row[index] for row in shown]
        natural = max(_widest_line(cells), _widest_line([column.name]))
        widths.append(natural)
        floor = natural if column.key else max(_longest_word(cells), _longest_word([column.name]))
        floors.append(max(1, floor))
    room = width - PADDING * len(widths) - 1
    while sum(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            return None
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _wide(table: Table, widths: list[int], lines: bool) -> RichTable:
    rich_table = RichTable(title=escape(table.title) or None, show_lines=lines)
    for column, width in zip(table.columns, widths, strict=True):
        rich_table.add_column(escape(column.name), width=width, no_wrap=column.key)
    for row in table.shown():
        rich_table.add_row(*(escape(cell) for cell in row))
    return rich_table


def _by_row(table: Table) -> Group:
    """A small two-column table per row: column name, value."""
    parts: list[RenderableType] = []
    for row in table.shown():
        one = RichTable(title=escape(f"{table.title}: {row[0]}"), show_header=False)
        one.add_column(no_wrap=True, style="bold")
        one.add_column(overflow="ellipsis")
        for column, cell in zip(table.columns[1:], row[1:], strict=True):
            one.add_row(escape(column.name), escape(cell))
        parts.append(one)
    return Group(*parts)


def _select(table: Table, indices: list[int], title: str) -> Table:
    columns = [table.columns[i] for i in indices]
    return Table(title, columns, [[row[i] for i in indices] for row in table.rows])


def column_groups(table: Table, width: int) -> list[Table] | None:
    """``table`` as consecutive groups of its columns, each beside the key columns and each
    fitting ``width``; None when a single column cannot fit beside the keys."""
    keys = [i for i, c in enumerate(table.columns) if c.key]
    groups: list[list[int]] = [[]]
    for index in (i for i in range(len(table.columns)) if i not in keys):
        if column_widths(_select(table, keys + groups[-1] + [index], ""), width) is None:
            alone = column_widths(_select(table, [*keys, index], ""), width)
            if not groups[-1] or alone is None:  # it fits beside the keys in no group
                return None
            groups.append([])
        groups[-1].append(index)
    titles = [table.title, *(f"{table.title} (continued)" for _ in groups[1:])]
    return [_select(table, keys + g, t) for g, t in zip(groups, titles, strict=True)]


def renderable(table: Table, width: int, lines: bool = False) -> RenderableType:
    """``table`` for a terminal ``width`` columns wide (``lines``: a rule between rows)."""
    parts = column_groups(table, width)
    if parts is None:
        return _by_row(table)
    shown = [_wide(p, column_widths(p, width) or [], lines) for p in parts]
    return shown[0] if len(shown) == 1 else Group(*shown)
