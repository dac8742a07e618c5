"""The PostgreSQL store: the shared SQL over a server, for teams that share one store.

Many processes write at once here, so nothing is cached between calls, and the two
places that number rows (a run's ``seq``, a summary's ``version``) take a per-session
advisory lock inside their transaction.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .migrations import migrate
from .run_cache import RecentRuns
from .sql_store import SqlStore

_MIGRATION_LOCK = 0x6167656E  # any constant: one migrating process at a time


def psycopg_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy, as in phidata's examples) -> libpq's form."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)


def redacted(url: str) -> str:
    """The URL without its password (in the userinfo or the query): safe to show or log."""
    url = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.I)


class _Connection:
    """A psycopg connection that takes the shared SQL's ``?`` placeholders."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Any = None) -> Any:
        if params is None:
            return self._conn.execute(sql)
        return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)


class PostgresDb:
    """One connection per process to a PostgreSQL database, shared by its threads."""

    def __init__(self, url: str) -> None:
        self.url = psycopg_url(url)
        self.path = redacted(self.url)
        self._mutex = threading.RLock()  # the kernel thread and the memory worker
        self._conn: Any = None
        self._in_transaction = False
        self._migrated = False
        self._generations = itertools.count(1)
        self.recent_runs = RecentRuns()
        _all.append(self)

    @property
    def generation(self) -> int:
        # Other processes may write at any moment: no cached read is ever trusted.
        return next(self._generations)

    def _open(self) -> None:
        import psycopg

        # Client-side binding: the shared SQL has parameters whose type PostgreSQL
        # cannot infer server-side (``? IS NULL OR x = ?``).
        conn = psycopg.connect(self.url, autocommit=True, cursor_factory=psycopg.ClientCursor)
        try:
            if not self._migrated:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                    wrapped = _Connection(conn)
                    migrate(wrapped.execute, lambda sql: wrapped.execute(sql).fetchall())
                self._migrated = True
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @contextmanager
    def connection(self) -> Iterator[_Connection]:
        with self._mutex:
            if self._conn is None or self._conn.closed:
                self._open()
            yield _Connection(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        with self.connection() as con:
            if self._in_transaction:  # nested: join the outer transaction
                yield con
                return
            self._in_transaction = True
            try:
                with self._conn.transaction():
                    yield con
            finally:
                self._in_transaction = False

    def lock_session(self, con: _Connection, key: str) -> None:
        """Serialise writers that number rows of one session (released at COMMIT)."""
        con.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def _forget_after_fork(self) -> None:
        # The child must not talk on (or close) the parent's socket.
        self._conn = None
        self._in_transaction = False
        self._mutex = threading.RLock()


_all: list[PostgresDb] = []
_by_url: dict[str, PostgresDb] = {}
_by_url_guard = threading.Lock()


def shared_postgres(url: str) -> PostgresDb:
    """The process's one connection to ``url`` (a magic asks for its store on every call)."""
    key = psycopg_url(url)
    with _by_url_guard:
        db = _by_url.get(key)
        if db is None:
            db = _by_url[key] = PostgresDb(key)
        return db


def _after_fork_in_child() -> None:
    for db in _all:
        db._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class PostgresStore(SqlStore):
    """Sessions, runs, messages, memories, summaries and events in PostgreSQL."""

    RUN_ID_IN_LIST = "run_id = ANY(?)"

    def __init__(self, db_url: str) -> None:
        self.db = shared_postgres(db_url)

    def __repr__(self) -> str:
        return f"PostgresStore({self.path!r})"
