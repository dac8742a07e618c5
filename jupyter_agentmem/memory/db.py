"""Memory-db classes with phidata's names: where user memories and events are kept."""

from __future__ import annotations

import os

from ..paths import default_db_path
from ..store import DuckDbStore


class DuckDbMemoryDb:
    """User memories in a DuckDB file (``table_name`` kept for phidata compatibility)."""

    def __init__(self, table_name: str = "agent_memory",
                 db_file: str | os.PathLike | None = None) -> None:
        self.table_name = table_name
        self.db_file = os.fspath(db_file) if db_file is not None else default_db_path()
        self.store = DuckDbStore(self.db_file)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r}, db_file={self.db_file!r})"


SqliteMemoryDb = DuckDbMemoryDb
