"""Table columns as HTML, through pandas' Styler: one formatter per column, the table's
CSS scoped to it (Styler's ``#T_<uuid>`` prefix wins over JupyterLab's right-aligned
``.jp-RenderedHTMLCommon td``), the index hidden, a caption above.

Every value is escaped here (the formatters return HTML; Styler is told not to escape):
a message, a memory or an id may hold ``<script>``.
"""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import display_values as shown
from .display_values import Column
from .theme import BADGE_CSS, FONT_SIZE, LINE, TEXT

if TYPE_CHECKING:
    from collections.abc import Callable

RIGHT = ("whole", "decimal", "money")  # numbers line up on the right
WRAPPED = ("text", "snippet", "items")
CELL_CHARS = 2000  # a cell's text is cut here in the display (pandas cuts at 50)
_WORD = re.compile(r"\w+")

_TABLE = (f"border-collapse: collapse; margin: 0; table-layout: auto; color: {TEXT}; "
          f"font-size: {FONT_SIZE}; font-variant-numeric: tabular-nums")
_CELL = (f"text-align: left; vertical-align: top; padding: 4px 14px 4px 0; "
         f"white-space: nowrap; border-bottom: 1px solid {LINE}; line-height: 1.45")
_HEAD = f"font-weight: 600; border-bottom: 1px solid {LINE}; vertical-align: bottom"
_CAPTION = "caption-side: top; text-align: left; padding: 0 0 6px 0; opacity: 0.75"
_WRAP = ("white-space: pre-wrap; overflow-wrap: anywhere; min-width: 20em; "
         "max-width: 60em")
_ID_CSS = ".agentmem-id {text-decoration: underline dotted; text-underline-offset: 2px}"


def marked(value: str, terms: frozenset[str]) -> str:
    """``value`` escaped, with each word that is one of ``terms`` in ``<mark>``."""
    out, at = [], 0
    for word in _WORD.finditer(value):
        if word.group().lower() in terms:
            out += [escape(value[at:word.start()]), "<mark>", escape(word.group()), "</mark>"]
            at = word.end()
    out.append(escape(value[at:]))
    return "".join(out)


def _id(value: Any) -> str:
    """An id cut short (``display_values.short_id``), the whole id on hover."""
    if shown.missing(value):
        return ""
    whole, short = str(value), shown.short_id(value)
    if short == whole:
        return escape(whole)
    return (f'<span class="agentmem-id" title="{escape(whole, quote=True)}">'
            f"{escape(short)}</span>")


def _flag(value: Any) -> str:
    word = shown.flag(value)
    if word == "failed":
        return '<span class="agentmem-badge agentmem-badge-error">failed</span>'
    return escape(word)


def formatter(column: Column, terms: frozenset[str]) -> Callable[[Any], str]:
    """The HTML of one cell of ``column``."""
    kind = column.kind
    plain: dict[str, Callable[[Any], str]] = {
        "id_full": lambda v: "" if shown.missing(v) else str(v),
        "time": shown.local_time,
        "time_s": lambda v: shown.local_time(v, seconds=True),
        "whole": shown.whole,
        "decimal": shown.decimal,
        "money": shown.money,
        "items": shown.items,
        "text": lambda v: shown.text(v, CELL_CHARS),
        "word": lambda v: "" if shown.missing(v) else str(v),
    }
    if kind == "id":
        return _id
    if kind == "session":
        return _id  # a session's id is cut as any id (its name is a column of its own)
    if kind == "flag":
        return _flag
    if kind == "snippet":
        return lambda v: marked(shown.text(v, CELL_CHARS), terms)
    to_text = plain.get(kind, plain["word"])
    return lambda v: escape(to_text(v))


def _labels(columns: list[Column]) -> list[str]:
    """Unique headers (a column a user added may repeat one)."""
    seen: dict[str, int] = {}
    out = []
    for c in columns:
        n = seen.get(c.label, 0)
        seen[c.label] = n + 1
        out.append(c.label if n == 0 else f"{c.label} ({n + 1})")
    return out


def column_values(rows: pd.DataFrame, name: str) -> list[Any]:
    """The values of column ``name`` (the first, if a frame repeats the name)."""
    found = rows[name]
    if isinstance(found, pd.DataFrame):
        found = found.iloc[:, 0]
    return found.to_list()


def root(body: str) -> str:
    """``body`` inside the element our CSS is scoped to."""
    return (f'<div class="agentmem-root"><style>{BADGE_CSS}{_ID_CSS}</style>{body}</div>')


def table_html(rows: pd.DataFrame, columns: list[Column], caption: str, empty: str,
               terms: frozenset[str]) -> str:
    """``columns`` of ``rows`` (the rows drawn) as an HTML table under ``caption``;
    ``empty`` is said instead of an empty table."""
    if rows.empty and empty:
        return root(f'<div style="color: {TEXT}; opacity: 0.75">{escape(empty)}</div>')
    labels = [escape(label) for label in _labels(columns)]  # a user's column may hold "<"
    data = pd.DataFrame({label: column_values(rows, c.name)
                         for label, c in zip(labels, columns)}, columns=labels)
    styler = data.style.hide(axis="index")
    styler.format({label: formatter(c, terms) for label, c in zip(labels, columns)},
                  escape=None)
    styler.set_table_styles([
        {"selector": "", "props": _TABLE},
        {"selector": "td, th", "props": _CELL},
        {"selector": "th", "props": _HEAD},
        {"selector": "caption", "props": _CAPTION},
    ])
    per_column: dict[str, list[dict[str, str]]] = {}
    for label, c in zip(labels, columns):
        if c.kind in RIGHT:
            per_column[label] = [{"selector": "td, th", "props": "text-align: right"}]
        elif c.kind in WRAPPED:
            wrap = _WRAP if c.kind != "items" else "white-space: normal; min-width: 8em"
            per_column[label] = [{"selector": "td", "props": wrap}]
    if per_column:
        styler.set_table_styles(per_column, overwrite=False)
    if caption:
        styler.set_caption(escape(caption))
    return root(styler.to_html())
