"""The SQLite engine: stdlib ``sqlite3``, one connection per file per process, WAL.

Several processes write one file at once: WAL lets readers go on while one writer
commits, ``BEGIN IMMEDIATE`` takes the write lock at the start of a transaction (a
deferred one that upgrades later can fail with "database is locked" whatever the busy
timeout), and the busy timeout makes a writer wait for the lock instead of failing.
The recent-runs cache is trusted while ``PRAGMA data_version`` is unchanged: it
changes exactly when another connection committed.

Timestamps are adapted here, explicitly: a ``datetime`` parameter is stored as ISO
text (``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts like the time), and a text value in a
column named ``*_at`` (every timestamp column of the schema, and only those) comes
back as a ``datetime``. No process-wide ``sqlite3`` adapter or converter is
registered (the default ones are deprecated since Python 3.12).
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from ... import runtime
from ..file_watch import WatchedFile
from ..files import make_private, open_private, private_folder
from ..journal import beside
from ..sql.engine import Cursor, EngineBase
from ..sql.migrations import migrate
from ..sql.staged import recover
from .dialect import SQLITE

BUSY_TIMEOUT_S = 60.0  # a writer waits this long for another process's transaction


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    return value


def _value(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


class SqliteCursor:
    """A finished statement's rows (fetched at once: a pending statement blocks COMMIT)."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        rows = cursor.fetchall()
        cursor.close()
        if self.description and rows:
            stamps = [i for i, d in enumerate(self.description) if d[0].endswith("_at")]
            if stamps:
                rows = [tuple(_value(v) if i in stamps else v for i, v in enumerate(row))
                        for row in rows]
        self._rows = rows
        self._next = 0

    def fetchone(self) -> tuple | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[tuple]:
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows


class SqliteConnection:
    """A ``sqlite3`` connection with explicit timestamp adaptation."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        args = [_param(v) for v in params] if params else []
        return SqliteCursor(self._conn.execute(sql, args))


def sqlite_path(location: str) -> str | None:
    """``sqlite:///tmp/a.db`` -> ``/tmp/a.db`` (as ``duckdb://``); ``None`` for in-memory."""
    path = location.removeprefix("sqlite://")
    return None if path in ("", ":memory:") else path


def shared_sqlite(path: str | os.PathLike | None) -> SqliteEngine:
    """The process's one engine for ``path`` (``None``: a private in-memory database)."""
    if path is None or os.fspath(path) == ":memory:":
        return runtime.track("engines", SqliteEngine(None))
    key = os.path.realpath(os.path.expanduser(os.fspath(path)))
    return runtime.shared("engines", "sqlite:" + key, lambda: SqliteEngine(key))


def create_private_file(path: str) -> None:
    """Create ``path`` 0600 (folders we create 0700) with the shared helpers
    (``store/files.py``); an existing file of ours is made 0600 again."""
    private_folder(os.path.dirname(path) or ".")
    os.close(open_private(path, os.O_RDWR | os.O_CREAT))
    # SQLite creates the -wal and -shm files with the database file's mode.
    make_private(path + "-wal", path + "-shm")


class SqliteEngine(EngineBase):
    """One ``sqlite3`` connection to a file, shared by the process's threads."""

    dialect = SQLITE

    def __init__(self, path: str | None) -> None:
        super().__init__()
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._opens = itertools.count(1)
        self.journal = beside(path) if path else None
        self._file = WatchedFile(path) if path else None  # deleted under us: said
        self._depth = 0
        self._open_number = 0

    def __repr__(self) -> str:
        return f"SqliteEngine({self.path or ':memory:'!r})"

    @property
    def generation(self) -> int:
        # Another process's commit changes data_version; our own commits do not (the
        # cache follows them itself). A reopen starts a new generation too.
        if self._conn is None:
            return self._open_number << 32
        (version,) = self._conn.execute("PRAGMA data_version").fetchone()
        return (self._open_number << 32) + version

    def _open(self) -> None:
        if self._file is not None and self._file.state() == "deleted":
            raise self._file.deleted()  # never a new empty file in its place
        if self.path is not None:
            create_private_file(self.path)
        # Autocommit (isolation_level=None): transactions are our own BEGIN/COMMIT.
        conn = sqlite3.connect(self.path or ":memory:", timeout=BUSY_TIMEOUT_S,
                               isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # A deleted row's bytes are overwritten with zeros, not left in free pages.
            conn.execute("PRAGMA secure_delete = ON")
            if self.path is not None:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")  # a committed run survives power loss
            conn.execute("BEGIN IMMEDIATE")  # one migrating process at a time
            try:
                migrate(SqliteConnection(conn), self.dialect)
                # A process may have died mid-turn (sql/staged.py).
                after_commit = recover(SqliteConnection(conn), self)
                conn.execute("COMMIT")
                after_commit()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._open_number = next(self._opens)
        self.recent_runs.clear()
        if self._file is not None:
            self._file.remember()

    @contextmanager
    def connection(self) -> Iterator[SqliteConnection]:
        with self._mutex:
            if self._conn is not None and self._depth == 0 and self._file is not None:
                # Deleted or replaced: writing on would go to the unlinked file.
                state = self._file.state()
                if state != "same":
                    conn, self._conn = self._conn, None
                    conn.close()
                    if state == "deleted":
                        raise self._file.deleted()
            if self._conn is None:
                self._open()
            self._depth += 1
            try:
                yield SqliteConnection(self._conn)
            finally:
                self._depth -= 1

    def _begin(self, con: Any) -> None:
        con.execute("BEGIN IMMEDIATE")

    def _discard(self) -> None:
        self.close()

    def scrub(self) -> None:
        """After a purge: VACUUM rewrites the file without free pages, and the WAL (which
        may hold earlier versions of the pages) is checkpointed and truncated to 0 bytes.
        Another process reading the file at that moment can keep the WAL from being
        truncated; its next checkpoint does it."""
        with self.connection():
            self._conn.execute("VACUUM")
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
            if self.journal is not None:
                self.journal.close()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

