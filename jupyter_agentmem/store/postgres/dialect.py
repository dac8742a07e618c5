"""PostgreSQL's SQL pieces."""

from __future__ import annotations

from ..sql.dialect import Dialect

POSTGRES = Dialect(
    name="postgresql",
    text_list_type="VARCHAR[]",
    run_id_in_list="run_id = ANY(?)",
    lock_row=" FOR UPDATE",
)
