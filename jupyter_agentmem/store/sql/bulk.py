"""Many rows into one table in few statements (an import, the term index of a batch).

A statement costs ~0.5 ms however small, so rows go in multi-row INSERTs of at most
1,000 rows and 30,000 parameters (SQLite allows 32,766 per statement, PostgreSQL
65,535). DuckDB binds parameters slowly: *measured* (duckdb 2.0.1) 50,000 12-column
rows took 4.4-7.8 s as multi-row INSERTs and 0.11 s as one ``INSERT ... SELECT`` from a
DataFrame, so a dialect may bring its own bulk write (``Dialect.insert_rows``), which
a ``CheckedConnection`` uses after checking every value (``sql/rows.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ROWS_PER_STATEMENT = 1000
PARAMS_PER_STATEMENT = 30_000


def insert_values(con: Any, table: str, columns: Sequence[str],
                  rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` (tuples in ``columns`` order) into ``table`` as multi-row INSERTs."""
    per = max(1, min(ROWS_PER_STATEMENT, PARAMS_PER_STATEMENT // max(1, len(columns))))
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
    marks = "(" + ", ".join("?" for _ in columns) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start:start + per]
        con.execute(head + ", ".join([marks] * len(chunk)), [v for row in chunk for v in row])


def insert_rows(con: Any, table: str, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` into ``table`` by the connection's own bulk write when it has one (a
    ``CheckedConnection``: checked, then the dialect's), else as multi-row INSERTs."""
    if not rows:
        return
    bulk = getattr(con, "insert_rows", None)
    if bulk is not None:
        bulk(table, columns, rows)
    else:
        insert_values(con, table, columns, rows)
