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
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from ... import runtime
from ..journal import Journal
from .dialect import Dialect
from .row_cache import RowCache
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
    commits_of: Counter[str]  # this process's commits, by what they said they write
    # ("*": anything)
    row_cache: RowCache

    @property
    def generation(self) -> int:
        """Changes whenever data cached earlier may be stale (another process wrote)."""

    @property
    def in_transaction(self) -> bool: ...

    def cache_stamp(self, rows: str) -> tuple[int, int, int] | None:
        """What must be the same for cached rows of ``rows`` to be current; None: read."""

    def reading(self) -> AbstractContextManager[Connection]:
        """For reads that need nothing queued: beside the committing thread if it can."""

    def connection(self) -> AbstractContextManager[Connection]:
        """The open connection, held by this thread for the block (re-entrant)."""

    def transaction(self, writes: str = "*") -> AbstractContextManager[Connection]:
        """A connection inside BEGIN ... COMMIT (ROLLBACK on any error); nested blocks join.
        ``writes``: what it writes when it is only that ("runs", "ledger", "memories",
        "summaries"); by default anything."""

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
        # Transactions this process committed, by what they said they write
        # (``transaction(writes=...)``; "*": anything): with the generation, what tells a
        # reader that nothing it reads was written since it last looked (the search
        # index, sql/search_index.py; the row cache, sql/row_cache.py).
        self.commits_of: Counter[str] = Counter()
        self._writes: set[str] = set()  # what the open transaction said it writes
        self._tx_thread = 0  # the thread of the open transaction
        self.row_cache = RowCache()

    @property
    def mutex(self) -> threading.RLock:
        """Held by a thread using the connection (re-entrant)."""
        return self._mutex

    def holds_connection(self) -> bool:
        """This thread holds the connection now (in a ``connection()`` block, however
        deep): it must not wait for what a reader beside it may hold (the search index)."""
        return self._mutex._is_owned()  # type: ignore[attr-defined]  (RLock's own check)

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
    def transaction(self, writes: str = "*") -> Iterator[Connection]:
        """``writes``: what the transaction writes, when it is only that ("runs": a run
        appended, "ledger": a model call recorded, "memories", "summaries"); by default
        anything."""
        with self.connection() as con:
            if self._in_transaction:  # nested: join the outer transaction
                self._writes.add(writes)
                yield con
                return
            self._begin(con)
            self._tx_thread = threading.get_ident()
            self._in_transaction = True
            self._writes = {writes}
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
                # By the one thing it said it writes; several, or anything: "*".
                self.commits_of[next(iter(self._writes)) if len(self._writes) == 1
                                else "*"] += 1
            finally:
                self._in_transaction = False

    @property
    def in_transaction(self) -> bool:
        """This thread is inside a transaction (another thread's, committing beside a
        reader on its own connection, is not this one's: see ``reading``)."""
        return self._in_transaction and self._tx_thread == threading.get_ident()

    def cache_stamp(self, rows: str) -> tuple[int, int, int] | None:
        """What must be the same for rows of ``rows`` ("memories", "summaries") read
        earlier to be current (sql/row_cache.py); None: read them now. Inside this
        thread's transaction nothing is cached (what it wrote may roll back)."""
        if self.in_transaction:
            return None
        with self.connection():
            return self.generation, self.commits_of["*"], self.commits_of[rows]

    def reading(self) -> AbstractContextManager[Connection]:
        """A connection for reads that need nothing of the runs queued for their commit
        (sql/deferred.py): where an engine can, they are read beside the thread that
        commits them instead of after it (DuckDB); else the connection."""
        return self.connection()

    def reading_takes_connection(self) -> bool:
        """A read through ``reading()`` would now take the connection itself (its file
        let go of: DuckDB). Never by default: ``reading()`` is the connection."""
        return False

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
        self.row_cache = RowCache()  # (its lock, too, may be held by a thread it lacks)
        if self.deferred is not None:
            self.deferred.after_fork_in_child()
        self.search_indexes = None  # its lock may be held by a thread the child lacks
        if self.journal is not None:
            self.journal.after_fork_in_child()
