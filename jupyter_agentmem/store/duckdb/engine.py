"""The DuckDB engine: one connection per file per process, opened under the handover lock.

The connection is kept while the process is busy (a turn needs ~3 ms with a kept
connection, ~40 ms when it reconnects) and handed over, closed and unlocked, as soon
as another process waits for the file or after a short idle time (docs/architecture.md,
"Sharing one DuckDB file"). Nothing that comes from the connection may outlive a
``with engine.connection():`` block: a handover kills cursors and results.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ... import runtime
from ..base import StoreError
from ..file_watch import WatchedFile
from ..files import make_private, private_folder
from ..journal import beside
from ..sql.deferred import DeferredAppends
from ..sql.engine import Connection, EngineBase
from ..sql.migrations import migrate
from ..sql.staged import recover
from .dialect import DUCKDB
from .file_faults import file_fault, read_only_reason
from .file_lock import HandoverLock, LockTimeout
from .progress_bar import without_widgets

_DUCKDB_CONFIG = {
    # Extensions cannot be downloaded here (no network); never try.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}


def shared_duckdb(path: str | os.PathLike | None, **options: Any) -> DuckDbEngine:
    """The process's one engine for ``path`` (``None``: a private in-memory database)."""
    if path is None or os.fspath(path) == ":memory:":
        return runtime.track("engines", DuckDbEngine(None, **options))
    key = os.path.realpath(os.path.expanduser(os.fspath(path)))
    return runtime.shared("engines", "duckdb:" + key, lambda: DuckDbEngine(key, **options))


class DuckDbEngine(EngineBase):
    """A DuckDB file shared with other processes through ``HandoverLock``."""

    dialect = DUCKDB

    def __init__(
        self,
        path: str | None,
        idle_release_s: float = 1.0,
        lock_timeout_s: float = 60.0,
        poll_s: float = 0.02,
    ) -> None:
        super().__init__()
        self.path = path
        self.idle_release_s = idle_release_s
        self.lock_timeout_s = lock_timeout_s
        self.poll_s = poll_s
        self._lock = HandoverLock(path) if path else None
        self._conn: Any = None
        self._depth = 0
        self._last_used = 0.0
        self._migrated = False
        self._keeper: threading.Thread | None = None
        # Bumped at every open: data cached under an older generation may be stale,
        # since another process could have written while we did not hold the file.
        self.generation = 0
        self._wal_path = path + ".wal" if path else None
        self.journal = beside(path) if path else None
        self._file = WatchedFile(path) if path else None  # deleted under us: said
        # A run appended off the run cache is committed by a thread after the turn: this
        # process holds the file while any is queued (sql/deferred.py).
        self.deferred = DeferredAppends(self)
        self.read_only: str | None = None  # why, when this process may only read the file
        # Reads beside the writer thread (``reading``): a cursor of the open connection
        # (DuckDB: a connection of its own to the same database), one statement at a time
        # under its own lock, never held while the engine's mutex is wanted.
        self._reader: Any = None
        self._reader_of: Any = None  # the connection it was made from
        self._read_mutex = threading.Lock()
        self._holder = 0  # the thread holding the mutex through ``connection()``

    def __repr__(self) -> str:
        return f"DuckDbEngine({self.path or ':memory:'!r})"

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """The open connection, held for this block (re-entrant in one thread).

        Waiting for it (for another thread of this process, then for the file) takes
        at most ``lock_timeout_s`` in all: a thread that waited for the mutex while the
        memory worker waited its 60 s for a stopped holder, then waited 60 s of its own,
        took 124 s (measured).
        """
        deadline = time.monotonic() + self.lock_timeout_s
        if self._lock is None:
            self._mutex.acquire()  # in memory: no other process, nothing to wait for
        elif not self._mutex.acquire(timeout=self.lock_timeout_s):
            raise self._lock.timed_out(self.lock_timeout_s)
        outer_holder, self._holder = self._holder, threading.get_ident()
        try:
            if self._conn is not None and self._depth == 0 and self._file is not None:
                self._check_file()
            if self._conn is None:
                self._open(deadline)
            deferred = self.deferred
            self._depth += 1
            try:
                if deferred.pending and not deferred.writing and not self._in_transaction:
                    deferred.write_pending()  # every use sees the runs queued before it
                    if self._conn is None:  # a failed write let the file go
                        self._open()
                yield self._conn
            finally:
                self._depth -= 1
                self._last_used = time.monotonic()
                if (self._depth == 0 and self._lock and not self.read_only
                        and not deferred.pending and self._lock.others_waiting()):
                    self._close()
        finally:
            self._holder = outer_holder
            self._mutex.release()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """Reads that need nothing queued, beside the thread committing the last turn's
        run (sql/deferred.py: ~10-15 ms at 100k messages, 6-8 statements and a COMMIT)
        instead of after it: the next turn's search, recall and memory reads no longer
        wait for it (bench/bench_search_scale.py). They see what is committed, as a
        read after the commit would, less the queued runs (which no such read needs).
        Where this thread already holds the connection (inside a transaction) or the
        database is in memory, the connection itself."""
        if self._holder == threading.get_ident() or not self.path:
            with self.connection() as con:
                yield con
            return
        yield _SideReader(self)

    def reading_takes_connection(self) -> bool:
        return self.path is not None and self._conn is None

    def _side_read(self, sql: str, params: Any) -> _Rows:
        with self._read_mutex:
            conn = self._conn
            if conn is not None:
                if self._reader_of is not conn:
                    self._reader, self._reader_of = conn.cursor(), conn
                cur = self._reader.execute(sql, params)
                return _Rows(cur.fetchall(), cur.description)
        with self.connection() as con:  # not held (handed over): the usual way
            cur = con.execute(sql, params)
            return _Rows(cur.fetchall(), cur.description)

    def _let_go(self) -> Any:
        """The connection, taken from the engine, its side reader closed (the file is not
        let go while a connection to it is open): under the side reader's lock, so no
        side read starts on a connection being closed (it raised "Connection already
        closed!") and the next one sees none (and takes the usual way). Called under
        the mutex, which ``_side_read`` never wants while it holds its own lock."""
        with self._read_mutex:
            reader, self._reader, self._reader_of = self._reader, None, None
            conn, self._conn = self._conn, None
            if reader is not None:
                reader.close()
        return conn

    def cache_stamp(self, rows: str) -> tuple[int, int, int] | None:
        # Without the mutex: the writer thread may be committing the last turn's run
        # (sql/deferred.py, ~10 ms), which changes no cached row; nothing is trusted
        # while the file is not held (another process may write it).
        if self._conn is None or self.in_transaction:
            return None
        return self.generation, self.commits_of["*"], self.commits_of[rows]

    def _check_file(self) -> None:
        """The open file is still the one at the path; else it is closed (never written
        again) and a deleted one is said (a replaced one is opened anew)."""
        assert self._file is not None
        state = self._file.state()
        if state != "same":
            self._close()
            if state == "deleted":
                raise self._file.deleted()

    def _commit(self, con: Connection) -> None:
        super()._commit(con)
        if self._wal_path:  # DuckDB makes a new WAL under the umask after a checkpoint
            make_private(self._wal_path)

    def _discard(self) -> None:
        # Closing the file discards an open transaction. (An in-memory database has
        # nowhere else to live, so it is kept.)
        if self.path:
            self._close()

    def _open(self, deadline: float | None = None) -> None:
        if self._file is not None:
            state = self._file.state()
            if state == "deleted":  # never an empty file without our tables in its place
                raise self._file.deleted()
            if state == "replaced":  # moved in, or rewritten by another process's purge
                self._migrated = False
        if self.path:
            try:
                private_folder(os.path.dirname(self.path) or ".")
            except OSError as exc:
                raise file_fault(self.path, exc) from None
            self.read_only = read_only_reason(self.path)
        # Read-only: no lock file can be made, and DuckDB itself refuses a read-only
        # open while a writer holds the file.
        lock = self._lock if not self.read_only else None
        if lock is not None:
            try:
                lock.acquire(self.lock_timeout_s if deadline is None
                             else max(0.0, deadline - time.monotonic()))
            except LockTimeout:  # said with the whole wait, not what was left of it
                raise lock.timed_out(self.lock_timeout_s) from None
            except OSError as exc:
                raise file_fault(self.path, exc) from None
        try:
            self._conn = self._connect()
            self.generation += 1
            if not self.read_only:  # else nothing can be written: read what is there
                con = self._conn
                con.execute("BEGIN TRANSACTION")
                if not self._migrated:
                    migrate(con, self.dialect)
                # Another process may have died mid-turn (sql/staged.py).
                after_commit = recover(con, self)
                con.execute("COMMIT")
                after_commit()
            self._migrated = True
            if self.path:  # created by DuckDB under the umask: 0600 from here on
                make_private(self.path, self._wal_path)
            if self._file is not None:
                self._file.remember()
        except BaseException as exc:
            self._close()
            if self.path and isinstance(exc, (OSError, self._duckdb_error())):
                raise file_fault(self.path, exc) from None
            raise
        if lock is not None:
            self._start_keeper()

    def _connect(self) -> Any:
        import duckdb

        with without_widgets():  # no ipywidgets import inside a kernel (progress_bar.py)
            if self.read_only:
                return duckdb.connect(self.path, read_only=True, config=_DUCKDB_CONFIG)
            return duckdb.connect(self.path or ":memory:", config=_DUCKDB_CONFIG)

    @staticmethod
    def _duckdb_error() -> type[Exception]:
        import duckdb

        return duckdb.Error

    def _begin(self, con: Connection) -> None:
        if self.read_only:  # every write is a transaction: refused whole, said plainly
            raise StoreError(f"The agent database {self.path} is read-only "
                             f"({self.read_only}): it can be read, not written. Use a "
                             "database you can write (%config AgentMagics.db = '<path>').")
        super()._begin(con)

    def _close(self) -> None:
        conn = self._let_go()
        try:
            if conn is not None:
                conn.close()  # checkpoints: the next process sees a whole file
        finally:
            if self._lock is not None:
                self._lock.release()  # does nothing when not held (read-only)

    def _start_keeper(self) -> None:
        # Under the mutex, like the keeper's own exit: a keeper that is about to exit
        # has already cleared ``_keeper``, so a new one is always started when needed.
        if self._keeper is None:
            self._keeper = threading.Thread(
                target=self._keep, name="agentmem-db-keeper", daemon=True
            )
            self._keeper.start()

    def _keep(self) -> None:
        # Hand the file over when idle or when another process waits for it.
        while True:
            time.sleep(self.poll_s)
            if not self._mutex.acquire(timeout=self.poll_s):
                continue
            try:
                if self._conn is None:
                    self._keeper = None
                    return
                if self._depth == 0 and not self.deferred.pending and (
                    time.monotonic() - self._last_used > self.idle_release_s
                    or self._lock.others_waiting()
                ):
                    self._close()
                    self._keeper = None
                    return
            finally:
                self._mutex.release()

    def scrub(self) -> None:
        """Rewrite the file without the bytes of deleted rows (after a purge).

        *Measured* (duckdb 2.0.1): after DELETE and FORCE CHECKPOINT the freed blocks of
        the file still hold the deleted text, so the database is copied into a fresh
        file (COPY FROM DATABASE keeps tables, indexes, keys and views), which replaces
        the old one, all under the file lock. The fresh file is made in a new 0700
        folder next to it and is 0600 before it takes the old one's place.
        """
        if not self.path or self.read_only:
            return
        with self._mutex:
            self.deferred.write_pending()
            if self._depth:
                raise StoreError("the file cannot be rewritten while it is in use")
            if self._conn is None:
                self._open()
            con = self._conn
            folder = tempfile.mkdtemp(prefix=".agentmem-purge-",
                                      dir=os.path.dirname(self.path) or ".")
            fresh = os.path.join(folder, "fresh.duckdb")
            try:
                con.execute("FORCE CHECKPOINT")
                (name,) = con.execute("SELECT current_database()").fetchone()
                quoted_path = fresh.replace("'", "''")
                quoted_name = name.replace('"', '""')
                con.execute(f"ATTACH '{quoted_path}' AS agentmem_purge_copy")
                try:
                    con.execute(f'COPY FROM DATABASE "{quoted_name}" TO agentmem_purge_copy')
                finally:
                    con.execute("DETACH agentmem_purge_copy")
                self._let_go()
                con.close()  # checkpoints the old file and removes its WAL; lock kept
                make_private(fresh)
                os.replace(fresh, self.path)
                if os.path.exists(self._wal_path):
                    os.unlink(self._wal_path)  # nothing left in it: the close checkpointed
            finally:
                shutil.rmtree(folder, ignore_errors=True)
                if self._conn is None and self._lock is not None:
                    self._lock.release()  # the next use reopens the fresh file

    def close(self) -> None:
        """Close now, the queued runs written first (the next use reopens)."""
        with self._mutex:
            try:
                self.deferred.write_pending()
            except Exception:  # noqa: BLE001 (kept in the file of turns in flight)
                pass
            if self._conn is not None:
                self._close()
            if self.journal is not None:
                self.journal.close()

    def others_waiting(self) -> bool:
        """Another process waits for the file (a run is then not queued: the append
        commits it and hands the file over)."""
        return self._lock is not None and not self.read_only and self._lock.others_waiting()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def after_fork_in_child(self) -> None:
        # The connection is kept, unused, by EngineBase; the inherited flock is dropped.
        self._depth = 0
        self._keeper = None
        if self._reader is not None:  # the parent's, like its connection: kept, unused
            runtime.keep_alive(self._reader)
        self._reader = self._reader_of = None
        self._read_mutex = threading.Lock()
        self._holder = 0
        super().after_fork_in_child()
        if self._lock is not None:
            self._lock.forget_after_fork()


class _Rows:
    """A statement's whole result, read while the side reader was held."""

    def __init__(self, rows: list[tuple], description: Any) -> None:
        self._rows = rows
        self.description = description

    def fetchall(self) -> list[tuple]:
        return self._rows

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None


class _SideReader:
    """The connection ``DuckDbEngine.reading`` gives: each statement on the side reader."""

    def __init__(self, engine: DuckDbEngine) -> None:
        self._engine = engine

    def execute(self, sql: str, params: Any = None) -> _Rows:
        return self._engine._side_read(sql, params)
