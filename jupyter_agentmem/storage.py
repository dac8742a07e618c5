"""Session storage classes with phidata's names, over the DuckDB or PostgreSQL store."""

from __future__ import annotations

import os

from .paths import default_db_path
from .store import Store, open_store


class AgentStorage:
    """Where an agent's sessions, runs and messages persist (resume by ``session_id``).

    ``table_name`` is accepted for phidata compatibility; the store keeps its own
    normalised tables (sessions, runs, messages) so several agents share one database.
    """

    def __init__(self, store: Store, table_name: str = "agent_sessions") -> None:
        self.store = store
        self.table_name = table_name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r}, at={self.store.path!r})"


class DuckDbAgentStorage(AgentStorage):
    """Sessions in a DuckDB file (default: ``AGENTMEM_DB`` or the Jupyter data dir)."""

    def __init__(self, table_name: str = "agent_sessions",
                 db_file: str | os.PathLike | None = None) -> None:
        self.db_file = os.fspath(db_file) if db_file is not None else default_db_path()
        super().__init__(open_store(self.db_file), table_name)


class PgAgentStorage(AgentStorage):
    """Sessions in PostgreSQL, for a team sharing one store (``db_url`` as in phidata)."""

    def __init__(self, table_name: str = "agent_sessions", db_url: str = "") -> None:
        from .store.postgres_store import PostgresStore

        super().__init__(PostgresStore(db_url), table_name)


# phidata's documented examples use these names; here they keep the same file on DuckDB.
SqlAgentStorage = DuckDbAgentStorage
SqliteAgentStorage = DuckDbAgentStorage
