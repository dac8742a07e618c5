"""What a value must be to be stored, the same on every backend.

DuckDB cannot encode a lone surrogate (``'\\ud800'``, which a notebook string can
hold), PostgreSQL refuses a NUL byte in text, and each has its own integer range:
so the shared SQL checks every parameter here first and refuses with a
``StoreError`` that says what is wrong, before any statement runs (no partial write,
and the same answer from every backend, SQLite included).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .base import StoreError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # the widest integer any backend stores
INT32_MAX = 2**31 - 1  # an INTEGER column (seq, version, token counts)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as it is, or None."""
    nul = text.find("\x00")
    if nul >= 0:
        return f"contains a NUL byte (character {nul})"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (f"contains a lone surrogate {text[exc.start]!r} (character {exc.start}), "
                "which is not valid Unicode")
    return None


def _shown(text: str) -> str:
    short = text[:40] + ("..." if len(text) > 40 else "")
    return short.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def check_text(text: str, what: str = "a text") -> str:
    """``text``, or ``StoreError`` saying why it cannot be stored."""
    problem = text_problem(text)
    if problem is not None:
        raise StoreError(f"{what} {problem}: {_shown(text)!r}. Remove the character "
                         "(or encode it, e.g. text.encode('utf-8', 'backslashreplace')"
                         ".decode()) and try again.")
    return text


ID_MAX_CHARS = 256  # PostgreSQL cannot index a key over ~8 kB: one limit for every backend


def check_id(value: object, what: str) -> str:
    """A session or user id as every backend stores and indexes it; else StoreError."""
    if not isinstance(value, str) or not value:
        raise StoreError(f"{what} must be a non-empty string, not {value!r:.40}.")
    if len(value) > ID_MAX_CHARS:
        raise StoreError(f"{what} has {len(value)} characters (at most {ID_MAX_CHARS}).")
    return check_text(value, what)


def check_int(value: int, what: str = "a number", low: int = INT64_MIN,
              high: int = INT64_MAX) -> int:
    if not low <= value <= high:
        raise StoreError(f"{what} {value} is out of range ({low}..{high}).")
    return value


def check_params(params: Sequence[Any] | None) -> None:
    """Refuse a statement's parameters that no backend stores the same way."""
    for value in params or ():
        if isinstance(value, str):
            check_text(value)
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            check_int(value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise StoreError(f"a number {value} cannot be stored (not finite).")
        elif isinstance(value, (list, tuple)):
            check_params(value)


def check_rows(rows: Sequence[Sequence[Any]]) -> None:
    """``check_params`` of every row, at bulk speed: the texts are checked joined (one NUL
    search, one UTF-8 encode) and the integers by their least and greatest; only when that
    finds a problem one by one, for the message naming the value. (*Measured*: checked one
    by one, 1.3M values took 15 s of a 38 s import under load.)"""
    texts: list[str] = []
    ints: list[int] = []
    others: list[Any] = []
    for row in rows:
        for value in row:
            kind = type(value)  # exact types: a subclass goes the slow, general way
            if kind is str:
                texts.append(value)
            elif kind is int:
                ints.append(value)
            elif value is not None and kind is not bool:
                others.append(value)
    if texts and text_problem("\n".join(texts)) is not None:
        check_params(texts)  # raises, naming the first bad text
    if ints and (min(ints) < INT64_MIN or max(ints) > INT64_MAX):
        check_params(ints)
    check_params(others)


def count_limit(n: Any, what: str) -> int:
    """A count the caller asked for (history runs, a page size) as SQL can take it:
    a whole number >= 0, capped at INT32_MAX (no session holds more); else StoreError."""
    if isinstance(n, float) and n.is_integer() and math.isfinite(n):
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise StoreError(f"{what} must be a whole number >= 0, not {n!r}.")
    return min(n, INT32_MAX)
