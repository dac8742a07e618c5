"""Where the SQL engines differ: every backend-specific piece of SQL, in one object.

The shared statements (``sql/store.py``, ``sql/memories.py``, ``sql/migrations.py``)
are written once with ``?`` placeholders and take these pieces from the engine's
dialect; a backend's folder holds its ``Dialect`` instance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _native_list(values: list[str]) -> Any:
    return list(values)


def _list_from_native(value: Any) -> list[str]:
    return list(value or [])


@dataclass(frozen=True)
class Dialect:
    """The SQL pieces one engine spells its own way."""

    name: str
    # Column type of a list of strings (memory and summary topics).
    text_list_type: str
    # A condition: "the column ``run_id`` is one of the list passed as one parameter".
    run_id_in_list: str
    # ``WITH x AS MATERIALIZED (...)``: makes DuckDB use the session_id index (~2 ms
    # at 1M rows instead of 8-10); an empty string where the engine has no such hint.
    materialized: str = "MATERIALIZED"
    # The larger of two values (``greatest`` in DuckDB and PostgreSQL, ``max`` in SQLite).
    greatest: str = "greatest"
    # A list of strings as the driver takes it for ``text_list_type``, and back.
    encode_list: Callable[[list[str]], Any] = _native_list
    decode_list: Callable[[Any], list[str]] = _list_from_native
    # A list parameter for ``run_id_in_list``.
    encode_id_list: Callable[[list[str]], Any] = _native_list
    # Appended to the SELECT that reads a row before an edit: ``FOR UPDATE`` where other
    # writers can change it meanwhile (PostgreSQL), so compare-and-set holds; nothing
    # where a writer has the whole file to itself (DuckDB).
    lock_row: str = ""
