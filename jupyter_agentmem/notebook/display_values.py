"""How a column of an ``%agent`` table and each of its values are shown: short ids,
local times, rounded numbers.

Shared by the HTML tables, the terminal text and the conversation view, so a value
reads the same everywhere. Each function takes what a DataFrame cell may hold (None,
NaN, NaT, a number, a string, a list) and returns plain text; escaping is the caller's.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

MAX_ROWS = 60  # rows drawn (pandas' display.max_rows); the DataFrame holds them all
SHORT_ID = 8  # characters of an id shown by default (the whole id: hover, columns=all)
# A generated id: a UUID (with or without dashes). Shortened wherever it stands in an id
# ("<uuid>#2", a summary's search id, reads "5b0f3c9e#2"); a name a user chose stays.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                   r"|(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", re.I)


def missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA: an empty cell."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict)) or getattr(value, "ndim", 0) > 0:
        return False
    try:
        return bool(value != value)  # NaN, NaT; pd.NA raises
    except (TypeError, ValueError):
        return True


def short_id(value: Any) -> str:
    """An id as shown by default: a UUID (alone or inside it) cut to its first 8
    characters; other ids (a name a user chose, a kernel's ``nb-...``) stay whole."""
    if missing(value):
        return ""
    text = str(value)
    if _UUID.search(text):
        return _UUID.sub(lambda m: m.group()[:SHORT_ID], text)
    return text


def looks_generated(value: str) -> bool:
    """A machine-made id (it holds a UUID) rather than a name a user chose."""
    return bool(_UUID.search(value))


def session_label(session_id: Any, name: Any = None) -> str:
    """A session as a person reads it: its name, else its id (a UUID cut to 8
    characters; ``quickstart`` and ``nb-3f2a9c1b2d4e`` stay whole)."""
    if not missing(name) and str(name).strip():
        return str(name)
    return short_id(session_id)


def local_time(value: Any, seconds: bool = False) -> str:
    """A stored time (naive UTC, as the store keeps it) as local ``YYYY-MM-DD HH:MM``."""
    if missing(value):
        return ""
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        return str(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def whole(value: Any) -> str:
    """A count or a duration as a whole number with thousands separators."""
    if missing(value) or isinstance(value, bool):
        return "" if missing(value) else str(value)
    try:
        return f"{round(float(value)):,}"
    except (TypeError, ValueError, OverflowError):
        return str(value)


def decimal(value: Any, places: int = 2) -> str:
    if missing(value):
        return ""
    try:
        return f"{float(value):,.{places}f}"
    except (TypeError, ValueError):
        return str(value)


def money(value: Any) -> str:
    """US dollars: 4 decimals below a dollar (a call costs fractions of a cent)."""
    if missing(value):
        return ""
    amount = float(value)
    if not math.isfinite(amount):
        return ""
    return f"${amount:,.4f}" if abs(amount) < 1 else f"${amount:,.2f}"


def items(value: Any) -> str:
    """A list (topics) as ``a, b``; a JSON text of a list as it is."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if hasattr(value, "tolist") and not isinstance(value, str):
        return ", ".join(str(v) for v in value.tolist())
    return "" if missing(value) else str(value)


def text(value: Any, limit: int | None = None) -> str:
    """Text as it is (real line breaks), cut at ``limit`` characters with a note."""
    if missing(value):
        return ""
    shown = str(value)
    if limit is not None and len(shown) > limit:
        rest = len(shown) - limit
        shown = shown[:limit] + f"… ({rest:,} more characters in the DataFrame)"
    return shown


def flag(value: Any) -> str:
    """A yes/no cell (``ok`` of a model call): ``failed``, or nothing when it went well
    (a column of "ok" is noise; the failures stand out)."""
    if missing(value):
        return ""
    return "" if bool(value) else "failed"


class Column:
    """One shown column: the frame's column, its header, and how a value reads.

    ``kind``: text (wrapped, real line breaks), snippet (text with the query's words
    marked), id (8 characters, the whole id on hover), id_full, session (its name or a
    short id), time (local, to the minute), time_s (to the second), whole, decimal,
    money, items (a list as ``a, b``), flag (ok / failed), word (short, one line).
    ``optional``: shown only when some row has a value.
    """

    __slots__ = ("kind", "label", "name", "optional")

    def __init__(self, name: str, label: str, kind: str, optional: bool = False) -> None:
        self.name, self.label, self.kind, self.optional = name, label, kind, optional

    def __getstate__(self) -> tuple[str, str, str, bool]:
        return self.name, self.label, self.kind, self.optional

    def __setstate__(self, state: tuple[str, str, str, bool]) -> None:
        self.name, self.label, self.kind, self.optional = state


def inferred(name: Any, values: Any, whole_ids: bool = True) -> Column:
    """A column nobody described (``columns=all``, or one a user added): its kind from
    its name and dtype (``values``: a pandas Series)."""
    import pandas as pd

    lowered = str(name).lower()
    if lowered.endswith("_at") or lowered == "time":
        kind = "time_s" if whole_ids else "time"
    elif lowered == "id" or lowered.endswith("_id"):
        kind = "id_full" if whole_ids else "id"
    elif lowered == "score":
        kind = "decimal"
    elif pd.api.types.is_bool_dtype(values):
        kind = "word"
    elif pd.api.types.is_numeric_dtype(values):
        looks_whole = values.dropna().map(lambda v: float(v).is_integer()).all()
        kind = "whole" if looks_whole or lowered.endswith(("_ms", "tokens", "seq")) else "decimal"
    elif pd.api.types.is_datetime64_any_dtype(values):
        kind = "time_s"
    elif values.map(lambda v: isinstance(v, (list, tuple))).any():
        kind = "items"
    else:
        kind = "text"
    return Column(str(name), str(name), kind)


def rows_caption(caption: str, drawn: int, total: int, which: str = "first") -> str:
    """``caption``, saying so when only the ``which`` (first, last) ``drawn`` of ``total``
    rows are drawn."""
    if total <= drawn:
        return caption
    return (caption + " · " if caption else "") + (
        f"{which} {drawn:,} of {total:,} rows shown (the DataFrame holds all)")
