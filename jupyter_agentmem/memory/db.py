"""Memory-db classes with phidata's names: where user memories and their events are kept."""

from __future__ import annotations

import os

from ..paths import default_db_path
from ..store import Store, open_store


class MemoryDb:
    """A store for user memories (``table_name`` kept for phidata compatibility)."""

    def __init__(self, store: Store, table_name: str = "agent_memory") -> None:
        self.store = store
        self.table_name = table_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r}, at={self.store.path!r})"


class DuckDbMemoryDb(MemoryDb):
    """User memories in a DuckDB file."""

    def __init__(self, table_name: str = "agent_memory",
                 db_file: str | os.PathLike | None = None) -> None:
        self.db_file = os.fspath(db_file) if db_file is not None else default_db_path()
        super().__init__(open_store(self.db_file), table_name)


class PgMemoryDb(MemoryDb):
    """User memories in PostgreSQL (``db_url`` as in phidata)."""

    def __init__(self, table_name: str = "agent_memory", db_url: str = "") -> None:
        from ..store.postgres_store import PostgresStore

        super().__init__(PostgresStore(db_url), table_name)


SqliteMemoryDb = DuckDbMemoryDb
