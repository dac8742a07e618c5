"""PostgreSQL's SQL pieces."""

from __future__ import annotations

from ..sql.dialect import Dialect


def _json_array(expr: str, source: str, order: str) -> str:
    return f"(SELECT coalesce(json_agg({expr} ORDER BY {order}), '[]'::json) FROM {source})"


def _epoch(expr: str) -> str:
    return f"CAST(extract(epoch FROM {expr}) AS BIGINT)"


POSTGRES = Dialect(
    name="postgresql",
    text_list_type="VARCHAR[]",
    run_id_in_list="run_id = ANY(?)",
    lock_row=" FOR UPDATE",
    blob_type="BYTEA",
    json_object="json_build_object",
    json_array=_json_array,
    epoch=_epoch,
    create_view="CREATE OR REPLACE VIEW",  # our own schema: no table of ours has the name
)
