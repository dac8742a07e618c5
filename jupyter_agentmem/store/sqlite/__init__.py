"""SQLite: one file shared by processes (stdlib ``sqlite3``, WAL), phidata's own backend."""

from __future__ import annotations

import os

from ..sql.store import SqlStore
from .engine import SqliteEngine, shared_sqlite, sqlite_path


class SqliteStore(SqlStore):
    """The store in one SQLite file (``None``: a private in-memory database)."""

    def __init__(self, db_file: str | os.PathLike | None = None) -> None:
        super().__init__(shared_sqlite(db_file))


def open_sqlite(location: str) -> SqlStore:
    """``sqlite:///path`` -> its store."""
    return SqliteStore(sqlite_path(location))


__all__ = ["SqliteEngine", "SqliteStore", "open_sqlite", "shared_sqlite", "sqlite_path"]
