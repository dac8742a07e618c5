"""Table columns as aligned plain text, through rich: a terminal's ``Out[n]`` and a
notebook output's text/plain. No colour codes (text/plain is saved in the notebook);
every cell is a ``rich.text.Text`` (a message's ``[brackets]`` are not rich markup)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from . import display_values as shown
from .display_values import Column

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import RenderableType

RIGHT = ("whole", "decimal", "money")
WRAPPED = ("text", "snippet", "items")
CELL_CHARS = 400  # a terminal cell's text is cut here (the DataFrame holds it whole)


def cell_text(column: Column, value: Any) -> str:
    kind = column.kind
    if kind in ("id", "session"):
        return shown.short_id(value)
    if kind == "time":
        return shown.local_time(value)
    if kind == "time_s":
        return shown.local_time(value, seconds=True)
    if kind == "whole":
        return shown.whole(value)
    if kind == "decimal":
        return shown.decimal(value)
    if kind == "money":
        return shown.money(value)
    if kind == "items":
        return shown.items(value)
    if kind == "flag":
        return shown.flag(value)
    if kind in ("text", "snippet"):
        return shown.text(value, CELL_CHARS)
    return "" if shown.missing(value) else str(value)


def render_text(parts: list[RenderableType], width: int) -> str:
    """``parts`` printed one after another on a plain console ``width`` wide."""
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=False,
                      force_jupyter=False, highlight=False, emoji=False, markup=False,
                      legacy_windows=False)
    for part in parts:
        console.print(part)
    return "\n".join(line.rstrip() for line in out.getvalue().rstrip("\n").split("\n"))


def table_text(rows: pd.DataFrame, columns: list[Column], caption: str, empty: str,
               width: int) -> str:
    """``columns`` of ``rows`` (the rows drawn) as aligned text ``width`` wide under
    ``caption`` (a block per row when the table would not fit); ``empty`` is said
    instead of an empty table."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .table_html import column_values

    if rows.empty and empty:
        return empty
    values = [column_values(rows, c.name) for c in columns]
    cells = [[cell_text(c, v) for v in column] for c, column in zip(columns, values)]
    parts: list[Any] = [Text(caption)] if caption else []
    if _natural_width(columns, cells) > width:
        return render_text([*parts, *_records(columns, cells, list(rows.index))], width)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="",
                  collapse_padding=True,
                  # A blank line between rows when a row may take several lines.
                  show_lines=any(len(v) > 40 or "\n" in v for c, column in zip(columns, cells)
                                 if c.kind in WRAPPED for v in column))
    for c in columns:
        table.add_column(c.label, justify="right" if c.kind in RIGHT else "left",
                         no_wrap=c.kind not in WRAPPED, overflow="fold",
                         ratio=1 if c.kind in WRAPPED else None,
                         min_width=12 if c.kind in WRAPPED else None)
    for i in range(len(rows)):
        table.add_row(*(Text(column[i]) for column in cells))
    return render_text([*parts, table], width)


def _natural_width(columns: list[Column], cells: list[list[str]]) -> int:
    """The width the table needs with its one-line columns whole and each wrapped
    column at least 24 characters (2 between columns)."""
    total = 0
    for c, column in zip(columns, cells):
        longest = max([len(c.label), *(max(map(len, v.split("\n")), default=0)
                                      for v in column)])
        total += min(longest, 24) if c.kind in WRAPPED else longest
    return total + 2 * (len(columns) - 1)


def _records(columns: list[Column], cells: list[list[str]], index: list[Any]) -> list[Any]:
    """Too wide for a table (columns=all in a terminal): each row as name / value lines."""
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    out: list[Any] = []
    for i, label in enumerate(index):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for c, column in zip(columns, cells):
            grid.add_row(Text(c.label), Text(column[i]))
        out += [Text(""), Text(f"row {label}"), Padding(grid, (0, 0, 0, 2))]
    return out
