"""SQLite's SQL pieces: lists as JSON text, ``max`` for ``greatest``, ids through ``json_each``."""

from __future__ import annotations

import json
from typing import Any

from ..sql.dialect import Dialect
from ..values import check_text


def _json_list(values: list[str]) -> str:
    # Checked before encoding: JSON would escape a NUL or a lone surrogate into plain
    # ASCII, and SQLite would then keep what no other backend can (store/values.py).
    return json.dumps([check_text(v) if isinstance(v, str) else v for v in values])


def _list_from_json(value: Any) -> list[str]:
    return list(json.loads(value)) if value else []


def _json_array(expr: str, source: str, order: str) -> str:
    # json() keeps a nested object an object (a subquery drops its JSON subtype); the
    # ordered subquery gives the aggregate its order (no ORDER BY in aggregates before 3.44).
    return (f"(SELECT json_group_array(json(j)) FROM "
            f"(SELECT {expr} AS j FROM {source} ORDER BY {order}))")


def _list_json(expr: str) -> str:
    return f"json({expr})"


def _in_json_list(column: str) -> str:
    return f"{column} IN (SELECT value FROM json_each(?))"


def _epoch(expr: str) -> str:
    return f"CAST(strftime('%s', {expr}) AS INTEGER)"


SQLITE = Dialect(
    name="sqlite",
    text_list_type="TEXT",  # a JSON array: SQLite has no array type
    run_id_in_list="run_id IN (SELECT value FROM json_each(?))",
    in_list=_in_json_list,
    greatest="max",  # SQLite's two-argument max is the scalar one
    encode_list=_json_list,
    decode_list=_list_from_json,
    encode_id_list=_json_list,
    json_array=_json_array,
    epoch=_epoch,
    list_json=_list_json,
)
