"""DuckDB's SQL pieces (the defaults of ``Dialect`` are DuckDB's spelling)."""

from __future__ import annotations

from ..sql.dialect import Dialect

DUCKDB = Dialect(
    name="duckdb",
    text_list_type="VARCHAR[]",
    run_id_in_list="list_contains(?::VARCHAR[], run_id)",
)
