"""The PostgreSQL engine: one connection per URL per process, for teams sharing one store.

The tables live in a schema of their own (default ``agentmem``; phidata's
``schema=``, or ``?schema=`` in the URL): a database that already has ``sessions`` or
``messages`` tables in ``public`` works and is left untouched. The connection's
``search_path`` is that schema alone, so the shared SQL names tables unqualified.

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
from ..base import StoreError
from ..journal import for_server
from ..sql.engine import Cursor, EngineBase
from ..sql.migrations import migrate
from ..sql.purge import PURGED_TABLES
from ..sql.staged import recover
from .dialect import POSTGRES

_MIGRATION_LOCK = 0x6167656E  # any constant: one migrating process at a time
DEFAULT_SCHEMA = "agentmem"
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a plain identifier, quoted anyway


def valid_schema(schema: str) -> str:
    """``schema`` if it is a plain lower-case identifier; ``ValueError`` naming it if not."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"invalid PostgreSQL schema name {schema!r}: use lower-case "
                         "letters, digits and _ (at most 63, not starting with a digit)")
    return schema


def split_schema(url: str) -> tuple[str, str | None]:
    """``postgresql://h/db?schema=ai&x=1`` -> (``postgresql://h/db?x=1``, ``ai``).

    libpq does not know a ``schema`` parameter, so it is taken out of the URL.
    """
    base, sep, query = url.partition("?")
    if not sep:
        return url, None
    schema = None
    kept = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "schema":
            schema = value
        elif part:
            kept.append(part)
    return base + ("?" + "&".join(kept) if kept else ""), schema


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


class EngineConnection:
    """The engine's connection as the shared SQL uses it (``?`` placeholders).

    A connection the server dropped (``pg_terminate_backend``, a restart) is noticed at
    the next statement. When that is the first statement of an outermost hold (nothing
    of this operation has run yet) the engine reconnects once and runs it again: a
    fresh transaction. Later in a hold it is a ``StoreError``: the transaction is gone
    (rolled back by the server), so nothing of it was stored.
    """

    def __init__(self, engine: PostgresEngine) -> None:
        self._engine = engine

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        may_reconnect = self._engine.first_statement_of_hold()
        try:
            return self._run(sql, params)
        except Exception as exc:
            if not self._engine.lost(exc):
                raise
            if not may_reconnect:
                raise self._engine.connection_lost(exc) from None
        self._engine.reconnect()
        return self._run(sql, params)

    def _run(self, sql: str, params: Sequence[Any] | None) -> Cursor:
        return PgConnection(self._engine.raw).execute(sql, params)

    def copy_rows(self, table: str, columns: Sequence[str],
                  rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into ``table`` by ``COPY ... FROM STDIN`` (a bulk write inside the
        open transaction; never its first statement, so a lost connection is an error)."""
        try:
            with self._engine.raw.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        except Exception as exc:
            if self._engine.lost(exc):
                raise self._engine.connection_lost(exc) from None
            raise


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def shared_postgres(url: str, schema: str | None = None) -> PostgresEngine:
    """The process's one engine for ``url`` and schema (a magic asks on every call).

    ``schema`` wins over ``?schema=`` in the URL; the default is ``agentmem``.
    """
    key, in_url = split_schema(psycopg_url(url))
    chosen = valid_schema(schema or in_url or DEFAULT_SCHEMA)
    return runtime.shared("engines", f"postgresql:{key}#{chosen}",
                          lambda: PostgresEngine(key, chosen))


class PostgresEngine(EngineBase):
    """One connection to a PostgreSQL database, shared by the process's threads."""

    dialect = POSTGRES

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA) -> None:
        super().__init__()
        self.url, in_url = split_schema(psycopg_url(url))
        self.schema = valid_schema(schema if schema != DEFAULT_SCHEMA or not in_url
                                   else in_url)
        # Shown and compared (the change bus): the schema is part of where data lives.
        self.path = redacted(self.url) + (
            "" if self.schema == DEFAULT_SCHEMA else
            ("&" if "?" in self.url else "?") + "schema=" + self.schema)
        self._conn: Any = None
        self._depth = 0
        self._fresh_hold = False
        self._migrated = False
        self._generations = itertools.count(1)
        self.journal = for_server(self.path)  # this host's turns in flight

    def __repr__(self) -> str:
        return f"PostgresEngine({self.path!r})"

    @property
    def generation(self) -> int:
        # Other processes may write at any moment: no cached read is ever trusted.
        return next(self._generations)

    def cache_stamp(self, rows: str) -> None:
        return None  # (the same reason: every read goes to the database)

    def _open(self) -> None:
        import psycopg

        # Client-side binding: the shared SQL has parameters whose type PostgreSQL
        # cannot infer server-side (``? IS NULL OR x = ?``).
        try:
            conn = psycopg.connect(self.url, autocommit=True,
                                   cursor_factory=psycopg.ClientCursor, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise StoreError(
                f"Cannot connect to the PostgreSQL database {self.path} "
                f"({redacted(_first_line(exc))}). Check that the server is running and "
                "the URL (host, port, user, database).") from None
        self._conn = conn
        try:
            # The schema name is validated (valid_schema) and quoted: never user SQL.
            if not self._migrated:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                    conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET search_path TO "{self.schema}"')
            if not self._migrated:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
                    migrate(PgConnection(conn), self.dialect)
                self._migrated = True
            with conn.transaction():  # a process may have died mid-turn (sql/staged.py)
                after_commit = recover(PgConnection(conn), self)
            after_commit()
        except BaseException:
            self._conn = None
            conn.close()
            raise

    @property
    def raw(self) -> Any:
        """The psycopg connection (opened when needed)."""
        if self._conn is None or self._conn.closed:
            self._open()
        return self._conn

    def lost(self, exc: BaseException) -> bool:
        """True when ``exc`` came from a connection the server dropped."""
        import psycopg

        return isinstance(exc, psycopg.OperationalError) and (
            self._conn is None or self._conn.closed or self._conn.broken)

    def reconnect(self) -> None:
        self._drop()
        self._open()

    def connection_lost(self, exc: BaseException) -> StoreError:
        self._drop()
        return StoreError(
            f"The connection to the PostgreSQL database {self.path} was lost "
            f"({redacted(_first_line(exc))}); nothing of this operation was stored. "
            "Run it again (a new connection is made).")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 (a dead connection may fail to close)
                pass

    @contextmanager
    def connection(self) -> Iterator[EngineConnection]:
        with self._mutex:
            if self._conn is None or self._conn.closed:
                self._open()
            if self._depth == 0:
                self._fresh_hold = True
            self._depth += 1
            try:
                yield EngineConnection(self)
            finally:
                self._depth -= 1

    def first_statement_of_hold(self) -> bool:
        """True once per outermost hold, at its first statement: only then may a dropped
        connection be replaced (nothing of the operation ran on the old one)."""
        fresh, self._fresh_hold = self._fresh_hold, False
        return fresh

    def _discard(self) -> None:
        self.close()

    def lock_session(self, con: Any, key: str) -> None:
        """Serialise writers that number rows of one session (released at COMMIT)."""
        con.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [key])

    def scrub(self) -> None:
        """After a purge: VACUUM FULL of the purged tables rewrites them without the dead
        rows (a plain VACUUM leaves their bytes in the pages until reused). It locks each
        table while it is rewritten. The server's own WAL, archives and backups are
        the server's business."""
        with self.connection() as con:
            for table in PURGED_TABLES:  # our constants
                con.execute(f"VACUUM (FULL) {table}")

    def close(self) -> None:
        with self._mutex:
            self._drop()
            if self.journal is not None:
                self.journal.close()

    @property
    def is_open(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def after_fork_in_child(self) -> None:
        self._depth = 0
        super().after_fork_in_child()  # the parent's socket: kept, never used or closed
