"""phidata's storage and memory-db classes: a named handle on a store.

phidata gives an agent a *storage* (sessions) and its memory a *db* (user memories),
each a class per backend (``SqlAgentStorage(table_name=, db_file=)``,
``PgMemoryDb(table_name=, db_url=)``...). Here each is a handle on the one store at
that location; the backend classes differ only in how the location is given.
"""

from __future__ import annotations

import os

from .base import Store
from .location import default_db_path
from .registry import open_store, scheme_of


class StoreHandle:
    """A store under one of phidata's class names (``table_name`` kept for compatibility)."""

    default_table = ""

    def __init__(self, store: Store, table_name: str | None = None) -> None:
        self.store = store
        self.table_name = table_name or self.default_table

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r}, at={self.store.path!r})"


class AgentStorage(StoreHandle):
    """Where an agent's sessions, runs and messages persist (resume by ``session_id``)."""

    default_table = "agent_sessions"


class MemoryDb(StoreHandle):
    """Where user memories and their events persist."""

    default_table = "agent_memory"


class FileHandle(StoreHandle):
    """A handle on a database file (default: ``AGENTMEM_DB`` or the Jupyter data dir)."""

    def __init__(self, table_name: str | None = None,
                 db_file: str | os.PathLike | None = None) -> None:
        self.db_file = os.fspath(db_file) if db_file is not None else default_db_path()
        super().__init__(open_store(self.db_file), table_name)


class UrlHandle(StoreHandle):
    """A handle on a PostgreSQL server (``db_url``, and ``schema`` as in phidata; ours
    defaults to ``agentmem``, or ``?schema=`` in the URL)."""

    def __init__(self, table_name: str | None = None, schema: str | None = None,
                 db_url: str = "") -> None:
        if not db_url:
            raise ValueError(f"{type(self).__name__} needs db_url= (e.g. "
                             "postgresql://user@host/dbname)")
        from .postgres import PostgresStore

        if scheme_of(db_url) not in ("postgresql", "postgres"):
            raise ValueError(f"{type(self).__name__} takes a postgresql:// db_url, not "
                             f"{db_url.partition('://')[0] or db_url!r}")
        self.db_url = db_url
        self.schema = schema
        super().__init__(PostgresStore(db_url, schema), table_name)


class SqliteHandle(StoreHandle):
    """A handle on a SQLite file, as phidata opens one: ``db_url``, else ``db_file``, else
    a private in-memory database."""

    def __init__(self, table_name: str | None = None, db_url: str | None = None,
                 db_file: str | os.PathLike | None = None) -> None:
        if db_url:
            if not db_url.startswith("sqlite://"):
                raise ValueError(f"{type(self).__name__} takes a sqlite:// db_url, not "
                                 f"{db_url.partition('://')[0]}:// (for PostgreSQL use "
                                 "PgAgentStorage / PgMemoryDb)")
            location = db_url
        elif db_file is not None:
            location = "sqlite://" + os.path.abspath(os.path.expanduser(os.fspath(db_file)))
        else:
            location = "sqlite://"
        self.db_url = db_url
        self.db_file = os.fspath(db_file) if db_file is not None else None
        super().__init__(open_store(location), table_name)


class DuckDbAgentStorage(FileHandle, AgentStorage):
    """Sessions in a DuckDB file."""


class DuckDbMemoryDb(FileHandle, MemoryDb):
    """User memories in a DuckDB file."""


class PgAgentStorage(UrlHandle, AgentStorage):
    """Sessions in PostgreSQL, for a team sharing one store."""


class PgMemoryDb(UrlHandle, MemoryDb):
    """User memories in PostgreSQL."""


class SqlAgentStorage(SqliteHandle, AgentStorage):
    """Sessions in a SQLite file (phidata's ``phi.storage.agent.sqlite.SqlAgentStorage``)."""


class SqliteMemoryDb(SqliteHandle, MemoryDb):
    """User memories in a SQLite file (phidata's default table: ``memory``)."""

    default_table = "memory"


# Not a phidata 2.7.10 name (its SQLite storage is SqlAgentStorage), but later phidata
# and agno use it: the same class.
SqliteAgentStorage = SqlAgentStorage
