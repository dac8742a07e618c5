"""Session storage classes with phidata's names, all backed by the DuckDB store."""

from __future__ import annotations

import os

from .paths import default_db_path
from .store import DuckDbStore


class DuckDbAgentStorage:
    """Persist sessions, runs and messages in a DuckDB file (resume by ``session_id``).

    ``table_name`` is accepted for phidata compatibility; the store keeps its own
    normalised tables (sessions, runs, messages) so several agents share one file.
    """

    def __init__(self, table_name: str = "agent_sessions",
                 db_file: str | os.PathLike | None = None) -> None:
        self.table_name = table_name
        self.db_file = os.fspath(db_file) if db_file is not None else default_db_path()
        self.store = DuckDbStore(self.db_file)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r}, db_file={self.db_file!r})"


# phidata's documented examples use these names; here they keep the same file on DuckDB.
SqlAgentStorage = DuckDbAgentStorage
SqliteAgentStorage = DuckDbAgentStorage
