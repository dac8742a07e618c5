"""The DuckDB store: the shared SQL over one embedded file (or a private in-memory db)."""

from __future__ import annotations

import os
from typing import Any

from .connection import SharedDuckDb, shared_duckdb
from .sql_store import SqlStore


class DuckDbStore(SqlStore):
    """Sessions, runs, messages, memories, summaries and events in one DuckDB file."""

    def __init__(self, db_file: str | os.PathLike | None = None, **options: Any) -> None:
        self.db: SharedDuckDb = shared_duckdb(db_file, **options)

    def __repr__(self) -> str:
        return f"DuckDbStore({self.path or ':memory:'!r})"
