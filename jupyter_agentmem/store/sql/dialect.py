"""Where the SQL engines differ: every backend-specific piece of SQL, in one object.

The shared statements (``sql/store.py``, ``sql/memories.py``, ``sql/migrations.py``)
are written once with ``?`` placeholders and take these pieces from the engine's
dialect; a backend's folder holds its ``Dialect`` instance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def _native_list(values: list[str]) -> Any:
    return list(values)


def _list_from_native(value: Any) -> list[str]:
    return list(value or [])


def _duckdb_json_array(expr: str, source: str, order: str) -> str:
    return f"(SELECT coalesce(to_json(list({expr} ORDER BY {order})), '[]'::JSON) FROM {source})"


def _duckdb_in_list(column: str) -> str:
    return f"{column} IN (SELECT unnest(?::VARCHAR[]))"


def _same_expr(expr: str) -> str:
    return expr


def _duckdb_epoch(expr: str) -> str:
    return f"CAST(epoch({expr}) AS BIGINT)"


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
    # A condition: "the text column ``column`` is one of the list passed as one
    # parameter" (``encode_id_list``): an import finds which of its keys are stored with
    # one statement per 10,000 keys (DuckDB: a semi-join; *measured* 100,000 keys as
    # IN (?, ?, ...) lists 1.2 s, as one list parameter 0.23 s).
    in_list: Callable[[str], str] = _duckdb_in_list
    # Many rows into a table on the driver's connection (``sql/bulk.py``): arguments
    # (connection, table, columns, rows); None: multi-row INSERTs.
    insert_rows: Callable[[Any, str, Sequence[str], Sequence[Sequence[Any]]], None] | None = None
    # Appended to the SELECT that reads a row before an edit: ``FOR UPDATE`` where other
    # writers can change it meanwhile (PostgreSQL), so compare-and-set holds; nothing
    # where a writer has the whole file to itself (DuckDB).
    lock_row: str = ""
    # phidata's row shape in read-only views (sql/views.py): a JSON object from
    # key/value pairs, a JSON array of ``expr`` over ``source`` ordered by ``order``
    # (``[]`` when empty), a timestamp as integer epoch seconds, and how a view is made
    # without failing when it (or a table of that name) exists.
    json_object: str = "json_object"
    json_array: Callable[[str, str, str], str] = _duckdb_json_array
    epoch: Callable[[str], str] = _duckdb_epoch
    create_view: str = "CREATE VIEW IF NOT EXISTS"
    # Column type of bytes (search index snapshots).
    blob_type: str = "BLOB"
    # A ``text_list_type`` column as a JSON array inside ``json_object``.
    list_json: Callable[[str], str] = _same_expr
    # Runs numbered as they are appended (``runs.search_seq``, from a sequence, in the
    # run's own INSERT): where writers commit one at a time, in the order they took their
    # numbers (DuckDB: one process holds the file, its transactions one after another),
    # a run's texts need no index rows: the search index finds new runs by their number
    # (sql/term_index.py). Elsewhere (SQLite: other processes may commit between; a
    # PostgreSQL sequence is not handed out in commit order) every text gets its row.
    numbered_appends: bool = False
    # Where they are: the highest number handed out (a snapshot of the index that has
    # runs past it is of another state of the database, a backup put back beside it).
    numbers_handed_out: str = ""
