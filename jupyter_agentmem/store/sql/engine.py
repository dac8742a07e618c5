"""The engine contract: connections, transactions and per-process sharing for the SQL store.

An engine owns the connection to one database (a DuckDB or SQLite file, a PostgreSQL
URL) for the whole process, shared by its threads (the kernel and the memory worker).
``EngineBase`` holds what every engine does the same way: transaction nesting (a
store method called inside another's transaction joins it) and the recent-runs
cache with its generation. A backend subclasses it with how to open, begin, commit,
roll back and close.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from ... import runtime
from ..journal import Journal
from .dialect import Dialect
from .run_cache import RecentRuns


class Cursor(Protocol):
    description: Any

    def fetchone(self) -> tuple | None: ...

    def fetchall(self) -> list[tuple]: ...


class Connection(Protocol):
    """A DB-API-like connection that takes the shared SQL's ``?`` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor: ...


class Deferred(Protocol):
    """Runs waiting for a commit after their turn (``sql/deferred.DeferredAppends``)."""

    @property
    def pending(self) -> bool: ...

    writing: bool

    def add(self, run: Any, user_id: str | None) -> int | None: ...

    def write_pending(self) -> None: ...

    def after_fork_in_child(self) -> None: ...


class Engine(Protocol):
    """What the SQL store asks of a database engine."""

    path: str | None  # where the data lives, safe to show (a URL without its password)
    dialect: Dialect
    recent_runs: RecentRuns
    journal: Journal | None  # turns in flight (store/journal.py); None: in memory
    views_made: set[tuple[str, str]]
    # Runs committed after the turn (sql/deferred.py): engines whose one writer holds the
    # database (DuckDB); None: every append commits before it returns.
    deferred: Deferred | None
    search_indexes: Any  # sql/search_index.SearchIndexes, made at the first search
    commits: int  # transactions this process committed

    @property
    def generation(self) -> int:
        """Changes whenever data cached earlier may be stale (another process wrote)."""

    @property
    def in_transaction(self) -> bool: ...

    def connection(self) -> AbstractContextManager[Connection]:
        """The open connection, held by this thread for the block (re-entrant)."""

    def transaction(self) -> AbstractContextManager[Connection]:
        """A connection inside BEGIN ... COMMIT (ROLLBACK on any error); nested blocks join."""

    def lock_session(self, con: Connection, key: str) -> None:
        """Serialise writers that number rows of one session, where several can write."""

    def scrub(self) -> None:
        """After a purge's COMMIT: make the deleted rows' bytes leave the database's
        files (DuckDB: rewrite the file; SQLite: VACUUM, WAL truncated; PostgreSQL:
        VACUUM FULL of the purged tables). Outside any transaction."""

    def close(self) -> None: ...


class EngineBase:
    """Transaction nesting and the run cache; subclasses open and close the connection."""

    dialect: Dialect
    path: str | None

    def __init__(self) -> None:
        self._mutex = threading.RLock()  # the kernel thread and the memory worker
        self._in_transaction = False
        self._conn: Any = None  # the driver's connection, opened by the backend
        self.recent_runs = RecentRuns()
        self.journal: Journal | None = None  # each backend sets its own (not in memory)
        self.views_made: set[tuple[str, str]] = set()  # phidata table_name views (views.py)
        self.deferred: Deferred | None = None  # set by an engine that defers appends
        self.search_indexes: Any = None  # the users' search indexes (sql/search_index.py)
        # Transactions this process committed: with the generation, what tells a reader
        # that nothing was written since it last looked (sql/search_index.py).
        self.commits = 0

    @property
    def mutex(self) -> threading.RLock:
        """Held by a thread using the connection (re-entrant)."""
        return self._mutex

    # --- what a backend provides ----------------------------------------------
    def connection(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _begin(self, con: Connection) -> None:
        con.execute("BEGIN TRANSACTION")

    def _commit(self, con: Connection) -> None:
        con.execute("COMMIT")

    def _rollback(self, con: Connection) -> None:
        con.execute("ROLLBACK")

    def _discard(self) -> None:
        """Drop a connection whose transaction state is unknown (a failed ROLLBACK)."""

    # --- shared --------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.connection() as con:
            if self._in_transaction:  # nested: join the outer transaction
                yield con
                return
            self._begin(con)
            self._in_transaction = True
            try:
                yield con
            except BaseException:
                try:
                    self._rollback(con)
                except BaseException:  # noqa: BLE001 (the first error is re-raised)
                    # A ROLLBACK that failed (or was interrupted) may leave the
                    # transaction open: dropping the connection discards it.
                    self._discard()
                raise
            else:
                self._commit(con)
                self.commits += 1
            finally:
                self._in_transaction = False

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def lock_session(self, con: Connection, key: str) -> None:
        """Nothing by default: an engine with one writer at a time needs no lock."""

    def scrub(self) -> None:
        """Nothing by default (an in-memory database has no file to scrub)."""

    # --- runtime.Resource -------------------------------------------------------
    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        # The child must neither use the parent's connection nor close it (closing a
        # DuckDB connection checkpoints into the parent's file and deletes its WAL; a
        # PostgreSQL one says goodbye on the parent's socket): kept alive, unused.
        if self._conn is not None:
            runtime.keep_alive(self._conn)
        self._conn = None
        self._mutex = threading.RLock()
        self._in_transaction = False
        self.recent_runs.clear()
        if self.deferred is not None:
            self.deferred.after_fork_in_child()
        self.search_indexes = None  # its lock may be held by a thread the child lacks
        if self.journal is not None:
            self.journal.after_fork_in_child()
