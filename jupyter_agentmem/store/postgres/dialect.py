"""PostgreSQL's SQL pieces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..sql.bulk import insert_values
from ..sql.dialect import Dialect

# Below this many rows a multi-row INSERT is as quick (a turn's rows stay plain statements).
COPY_MIN_ROWS = 200


def copy_rows(con: Any, table: str, columns: Sequence[str],
              rows: Sequence[Sequence[Any]]) -> None:
    """``rows`` into ``table`` by COPY (values checked by the caller). *Measured*: 10,000
    messages' import spent half its time in psycopg splitting each 1,000-row INSERT into
    parameters (a query that long is parsed again every time)."""
    if len(rows) < COPY_MIN_ROWS:
        insert_values(con, table, columns, rows)
    else:
        con.copy_rows(table, columns, rows)


def _json_array(expr: str, source: str, order: str) -> str:
    return f"(SELECT coalesce(json_agg({expr} ORDER BY {order}), '[]'::json) FROM {source})"


def _any(column: str) -> str:
    return f"{column} = ANY(?)"


def _epoch(expr: str) -> str:
    return f"CAST(extract(epoch FROM {expr}) AS BIGINT)"


POSTGRES = Dialect(
    name="postgresql",
    text_list_type="VARCHAR[]",
    run_id_in_list="run_id = ANY(?)",
    in_list=_any,
    insert_rows=copy_rows,
    lock_row=" FOR UPDATE",
    blob_type="BYTEA",
    json_object="json_build_object",
    json_array=_json_array,
    epoch=_epoch,
    create_view="CREATE OR REPLACE VIEW",  # our own schema: no table of ours has the name
)
