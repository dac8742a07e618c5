"""DuckDB, the default backend: one embedded file shared by kernels through a handover lock."""

from __future__ import annotations

import os
from typing import Any

from ..sql.store import SqlStore
from .engine import DuckDbEngine, shared_duckdb


class DuckDbStore(SqlStore):
    """The store in one DuckDB file (``None``: a private in-memory database)."""

    def __init__(self, db_file: str | os.PathLike | None = None, **options: Any) -> None:
        super().__init__(shared_duckdb(db_file, **options))


def open_duckdb(location: str) -> SqlStore:
    """A path (``duckdb:///path`` or a plain path) -> its store."""
    path = location.removeprefix("duckdb://")
    return DuckDbStore(path or None)


__all__ = ["DuckDbEngine", "DuckDbStore", "open_duckdb", "shared_duckdb"]
