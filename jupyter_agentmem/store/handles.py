"""phidata's storage and memory-db classes: a named handle on a store.

phidata gives an agent a *storage* (sessions) and its memory a *db* (user memories),
each a class per backend (``SqlAgentStorage(table_name=, db_file=)``,
``PgMemoryDb(table_name=, db_url=)``...). Here each is a handle on the one store at
that location; the backend classes differ only in how the location is given.
"""

from __future__ import annotations

import copy
import os

from ..types import AgentSession, Memory, MemoryRow
from .base import Store
from .location import default_db_path
from .phidata_rows import agent_session, memory_row
from .registry import open_store, scheme_of


class StoreHandle:
    """A store under one of phidata's class names (``table_name`` kept for compatibility)."""

    default_table = ""

    def __init__(self, store: Store, table_name: str | None = None) -> None:
        self.table_name = table_name or self.default_table
        # Scoped to table_name; its view (phidata's row shape) is made at the first write.
        self.store = self.scope(store)
        # Who a call without a user_id acts as (None: "default"); an Agent's handles act
        # as the agent's user (``for_user``), as phidata's examples expect.
        self.user_id: str | None = None

    def scope(self, store: Store) -> Store:
        return store

    def for_user(self, user_id: str | None) -> StoreHandle:
        """This handle, its calls without a ``user_id`` acting as ``user_id``."""
        if user_id == self.user_id:
            return self
        bound = copy.copy(self)
        bound.user_id = user_id
        return bound

    def acting(self, user_id: str | None = None) -> Store:
        """The store acting as ``user_id``, else as this handle's user."""
        return self.store.as_user(user_id if user_id is not None else self.user_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(table_name={self.table_name!r}, at={self.store.path!r})"


class AgentStorage(StoreHandle):
    """Where an agent's sessions, runs and messages persist (resume by ``session_id``).

    phidata's storage methods, in phidata's row shape (``AgentSession``). Each call acts
    as its ``user_id`` (``None``: ``"default"``, as an Agent without a user): a user
    sees their own sessions and nobody's, never another user's (the store checks).
    """

    default_table = "agent_sessions"

    def scope(self, store: Store) -> Store:
        """Sessions of this table_name only (agents with other table names are apart)."""
        return store.scoped(sessions=self.table_name)

    def read(self, session_id: str, user_id: str | None = None) -> AgentSession | None:
        """The session, or ``None`` (also when it is another user's)."""
        return agent_session(self.acting(user_id), session_id)

    def upsert(self, session: AgentSession, create_and_retry: bool = True) -> AgentSession | None:
        """Create or update the session's row (ids, agent name, ``session_name``); runs
        are stored turn by turn, not from ``session.memory``."""
        name = (session.session_data or {}).get("session_name")
        agent_name = (session.agent_data or {}).get("name")
        store = self.acting(session.user_id)
        store.save_session(session.session_id, agent_name, name)
        return self.read(session.session_id, session.user_id)

    def get_all_session_ids(self, user_id: str | None = None,
                            agent_id: str | None = None) -> list[str]:
        """The user's session ids, newest created first (``agent_id``: we keep none)."""
        rows = sorted(self.acting(user_id).list_sessions(),
                      key=lambda r: r["created_at"], reverse=True)
        return [r["session_id"] for r in rows]

    def get_all_sessions(self, user_id: str | None = None,
                         agent_id: str | None = None) -> list[AgentSession]:
        found = (self.read(i, user_id) for i in self.get_all_session_ids(user_id, agent_id))
        return [s for s in found if s is not None]

    def delete_session(self, session_id: str | None = None, user_id: str | None = None) -> None:
        """Delete the user's session with its runs, messages and summaries (``None``:
        nothing); another user's: ``StoreError``, nothing deleted."""
        if session_id is not None:
            self.acting(user_id).delete_session(session_id)


class MemoryDb(StoreHandle):
    """Where user memories and their events persist.

    phidata's memory-db methods, in phidata's row shape (``MemoryRow``). Deletes are
    soft (undoable from the panel or ``memory_events``). Each call acts as a user
    (``None``: ``"default"``): phidata's "every user's memories" reads are that user's.
    """

    default_table = "agent_memory"

    def scope(self, store: Store) -> Store:
        """Memories of this table_name only."""
        return store.scoped(memories=self.table_name)

    def read_memories(self, user_id: str | None = None, limit: int | None = None,
                      sort: str | None = None) -> list[MemoryRow]:
        """The user's memories, newest first unless ``sort="asc"``."""
        found = self.acting(user_id).user_memories()
        found.sort(key=lambda m: (m.created_at, m.memory_id), reverse=sort != "asc")
        return [memory_row(m) for m in (found if limit is None else found[:limit])]

    def memory_exists(self, memory: MemoryRow) -> bool:
        return self._live(memory.id, memory.user_id)

    def upsert_memory(self, memory: MemoryRow, create_and_retry: bool = True) -> None:
        """Add the memory, or change it when its id exists (as the row's user's)."""
        text = str(memory.memory.get("memory", ""))
        topic = memory.memory.get("topic")
        store = self.acting(memory.user_id)
        if memory.id is not None and self._live(memory.id, memory.user_id):
            store.update_memory(memory.id, text, [topic] if topic else None, "user")
            return
        kwargs = {"memory_id": memory.id} if memory.id else {}
        store.add_memory(Memory(user_id=store.user_id, memory=text,
                                topics=[topic] if topic else [],
                                input=memory.memory.get("input"), **kwargs), actor="user")

    def delete_memory(self, id: str, user_id: str | None = None) -> None:  # noqa: A002
        """Delete the user's memory ``id`` (phidata's name); nothing for another's."""
        if self._live(id, user_id):
            self.acting(user_id).delete_memory(id, "user")

    def clear(self, user_id: str | None = None) -> bool:
        """Delete the user's memories (soft, undoable); True, as phidata's."""
        self.acting(user_id).delete_user_memories("user")
        return True

    def _live(self, memory_id: str | None, user_id: str | None) -> bool:
        if memory_id is None:
            return False
        found = self.acting(user_id).get_memory(memory_id)
        return found is not None and found.deleted_at is None


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
