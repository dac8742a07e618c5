"""SQLite's SQL pieces: lists as JSON text, ``max`` for ``greatest``, ids through ``json_each``."""

from __future__ import annotations

import json
from typing import Any

from ..sql.dialect import Dialect


def _json_list(values: list[str]) -> str:
    return json.dumps(list(values))


def _list_from_json(value: Any) -> list[str]:
    return list(json.loads(value)) if value else []


SQLITE = Dialect(
    name="sqlite",
    text_list_type="TEXT",  # a JSON array: SQLite has no array type
    run_id_in_list="run_id IN (SELECT value FROM json_each(?))",
    greatest="max",  # SQLite's two-argument max is the scalar one
    encode_list=_json_list,
    decode_list=_list_from_json,
    encode_id_list=_json_list,
)
