"""DuckDB's SQL pieces (the defaults of ``Dialect`` are DuckDB's spelling), and its bulk
write: many rows as one ``INSERT ... SELECT`` from a DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..sql.bulk import insert_values
from ..sql.dialect import Dialect

# Below this many rows a multi-row INSERT is as quick (a turn's two messages and their
# index rows stay plain statements: no DataFrame to build).
FRAME_MIN_ROWS = 200
# A column's DataFrame type from its first value that is not None (None: a NULL): text,
# lists and anything else stay Python objects, which DuckDB reads as they are.
_FRAME_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"), (int, "Int64"), (float, "Float64"), (datetime, "datetime64[us]"))


def _column(values: list[Any]) -> Any:
    import pandas as pd

    first = next((v for v in values if v is not None), None)
    for kind, dtype in _FRAME_TYPES:
        if isinstance(first, kind):
            return pd.array(values, dtype=dtype)
    return pd.array(values, dtype=object)


def insert_frame(con: Any, table: str, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` into ``table``: one ``INSERT ... SELECT`` from a DataFrame (values checked
    by the caller: ``CheckedConnection.insert_rows``)."""
    if len(rows) < FRAME_MIN_ROWS:
        insert_values(con, table, columns, rows)
        return
    import pandas as pd

    frame = pd.DataFrame({f"c{i}": _column([row[i] for row in rows])
                          for i in range(len(columns))})
    view = "agentmem_bulk_" + table  # one at a time: the engine's mutex is held
    con.register(view, frame)
    try:
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"SELECT {', '.join(frame.columns)} FROM {view}")
    finally:
        con.unregister(view)


DUCKDB = Dialect(
    name="duckdb",
    text_list_type="VARCHAR[]",
    run_id_in_list="list_contains(?::VARCHAR[], run_id)",
    insert_rows=insert_frame,
    numbered_appends=True,
    # (last_value is NULL before the first; a sequence copied by a scrub starts past it)
    numbers_handed_out="SELECT coalesce(last_value, start_value - 1) FROM duckdb_sequences() "
                       "WHERE sequence_name = 'search_seq_numbers' "
                       "AND database_name = current_database()",
)
