"""One DuckDB connection per file per process, opened under the handover lock.

The connection is kept while the process is busy (a turn needs ~3 ms with a kept
connection, ~40 ms when it reconnects) and handed over, closed and unlocked, as soon
as another process waits for the file or after a short idle time. Nothing that comes
from the connection may outlive a ``with db.connection():`` block: a handover kills
cursors and results.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .file_lock import HandoverLock
from .migrations import migrate
from .run_cache import RecentRuns

_DUCKDB_CONFIG = {
    # Extensions cannot be downloaded here (no network); never try.
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}

_open_files: dict[str, SharedDuckDb] = {}
_open_files_guard = threading.Lock()
_all: weakref.WeakSet[SharedDuckDb] = weakref.WeakSet()
_inherited_from_parent: list[Any] = []  # a forked child's copies: never used, never closed


def shared_duckdb(path: str | os.PathLike | None, **options: Any) -> SharedDuckDb:
    """The process's one connection manager for ``path`` (``None``: a private in-memory db)."""
    if path is None or str(path) == ":memory:":
        return SharedDuckDb(None, **options)
    key = os.path.realpath(os.path.expanduser(os.fspath(path)))
    with _open_files_guard:
        db = _open_files.get(key)
        if db is None:
            db = _open_files[key] = SharedDuckDb(key, **options)
        return db


class SharedDuckDb:
    """A DuckDB file shared with other processes through ``HandoverLock``."""

    def __init__(
        self,
        path: str | None,
        idle_release_s: float = 1.0,
        lock_timeout_s: float = 60.0,
        poll_s: float = 0.02,
    ) -> None:
        self.path = path
        self.idle_release_s = idle_release_s
        self.lock_timeout_s = lock_timeout_s
        self.poll_s = poll_s
        self._lock = HandoverLock(path) if path else None
        self._mutex = threading.RLock()  # the kernel thread and the memory worker
        self._conn: Any = None
        self._depth = 0
        self._in_transaction = False
        self._last_used = 0.0
        self._migrated = False
        self._keeper: threading.Thread | None = None
        # Bumped at every open: data cached under an older generation may be stale,
        # since another process could have written while we did not hold the file.
        self.generation = 0
        self.recent_runs = RecentRuns()
        _all.add(self)
        if path:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """The open connection, held for this block (re-entrant in one thread)."""
        with self._mutex:
            if self._conn is None:
                self._open()
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
                self._last_used = time.monotonic()
                if self._depth == 0 and self._lock and self._lock.others_waiting():
                    self._close()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """A connection inside BEGIN ... COMMIT (ROLLBACK on any error)."""
        with self.connection() as con:
            if self._in_transaction:  # nested: join the outer transaction
                yield con
                return
            con.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield con
            except BaseException:
                try:
                    con.execute("ROLLBACK")
                except BaseException:  # noqa: BLE001 (the first error is re-raised)
                    # A ROLLBACK that failed (or was interrupted) may leave the transaction
                    # open; closing the file discards it. (An in-memory db has nowhere
                    # else to live, so it is kept.)
                    if self.path:
                        self._close()
                raise
            else:
                con.execute("COMMIT")
            finally:
                self._in_transaction = False

    def _open(self) -> None:
        import duckdb

        if self._lock is not None:
            self._lock.acquire(self.lock_timeout_s)
        try:
            self._conn = duckdb.connect(self.path or ":memory:", config=_DUCKDB_CONFIG)
            self.generation += 1
            if not self._migrated:
                con = self._conn
                con.execute("BEGIN TRANSACTION")
                migrate(con.execute, lambda sql: con.execute(sql).fetchall())
                con.execute("COMMIT")
                self._migrated = True
        except BaseException:
            self._close()
            raise
        if self._lock is not None:
            self._start_keeper()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()  # checkpoints: the next process sees a whole file
        finally:
            if self._lock is not None:
                self._lock.release()

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
                if self._depth == 0 and (
                    time.monotonic() - self._last_used > self.idle_release_s
                    or self._lock.others_waiting()
                ):
                    self._close()
                    self._keeper = None
                    return
            finally:
                self._mutex.release()

    def lock_session(self, con: Any, key: str) -> None:
        """Nothing to do: holding the file makes this process the only writer."""

    def close(self) -> None:
        """Close now (the next use reopens)."""
        with self._mutex:
            if self._conn is not None:
                self._close()

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    def _forget_after_fork(self) -> None:
        # The child must neither close the parent's connection (dropping the last
        # reference shuts DuckDB down: it checkpoints into the parent's file and deletes
        # its WAL) nor keep its inherited flock. So the connection is kept, unused,
        # until the child exits.
        if self._conn is not None:
            _inherited_from_parent.append(self._conn)
        self._conn = None
        self._depth = 0
        self._in_transaction = False
        self._keeper = None
        self.recent_runs.clear()
        self._mutex = threading.RLock()
        if self._lock is not None:
            self._lock.forget_after_fork()


def _after_fork_in_child() -> None:
    global _open_files_guard
    _open_files_guard = threading.Lock()
    for db in list(_all):
        db._forget_after_fork()


def _close_all_at_exit() -> None:
    # Close (and checkpoint) before interpreter shutdown; a connection destroyed later,
    # from a daemon thread, aborts the process.
    if _inherited_from_parent:
        return  # a forked child that exits normally: leave the parent's database alone
    for db in list(_all):
        try:
            db.close()
        except Exception:  # noqa: BLE001 (exiting anyway)
            pass


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
