"""The PostgreSQL engine: one connection per URL per process, for teams sharing one store.

Many processes write at once here, so nothing is cached between calls (the generation
changes at every read), and the two places that number rows (a run's ``seq``, a
summary's ``version``) take a per-session advisory lock inside their transaction.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ... import runtime
from ..sql.engine import Cursor, EngineBase
from ..sql.migrations import migrate
from .dialect import POSTGRES

_MIGRATION_LOCK = 0x6167656E  # any constant: one migrating process at a time


def psycopg_url(url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy, as in phidata's examples) -> libpq's form."""
    return re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", url)


def redacted(url: str) -> str:
    """The URL without its password (in the userinfo or the query): safe to show or log."""
    url = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url, flags=re.I)


class PgConnection:
    """A psycopg connection that takes the shared SQL's ``?`` placeholders."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        if params is None:
            return self._conn.execute(sql)
        return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)


def shared_postgres(url: str) -> PostgresEngine:
    """The process's one engine for ``url`` (a magic asks for its store on every call)."""
    key = psycopg_url(url)
    return runtime.shared("engines", "postgresql:" + key, lambda: PostgresEngine(key))


class PostgresEngine(EngineBase):
    """One connection to a PostgreSQL database, shared by the process's threads."""

    dialect = POSTGRES

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = psycopg_url(url)
        self.path = redacted(self.url)
        self._conn: Any = None
        self._migrated = False
        self._generations = itertools.count(1)

    def __repr__(self) -> str:
        return f"PostgresEngine({self.path!r})"

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
                    migrate(PgConnection(conn), self.dialect)
                self._migrated = True
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    @contextmanager
    def connection(self) -> Iterator[PgConnection]:
        with self._mutex:
            if self._conn is None or self._conn.closed:
                self._open()
            yield PgConnection(self._conn)

    def _discard(self) -> None:
        self.close()

    def lock_session(self, con: Any, key: str) -> None:
        """Serialise writers that number rows of one session (released at COMMIT)."""
        con.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def after_fork_in_child(self) -> None:
        # The child must not talk on (or close) the parent's socket.
        if self._conn is not None:
            runtime.keep_alive(self._conn)
        self._conn = None
        super().after_fork_in_child()
