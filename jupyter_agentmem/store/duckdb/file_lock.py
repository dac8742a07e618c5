"""The cross-process lock that lets several kernels share one DuckDB file.

DuckDB lets one process open a file read-write; a second ``connect`` fails, and
processes that take turns by retrying ``connect`` lose rows. So a process opens the
file only while it holds an exclusive ``flock`` on ``<db>.lock``. A process that
wants the file holds a shared ``flock`` on ``<db>.want`` while it waits; the holder
probes that file and hands the database over when someone is waiting
(docs/architecture.md, "Sharing one DuckDB file").
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

from ..base import StoreError
from ..files import open_private


class LockTimeout(StoreError):
    """Another process kept the database for longer than we were willing to wait."""


class HandoverLock:
    """Exclusive lock on ``<path>.lock``; waiters announce themselves on ``<path>.want``."""

    def __init__(self, db_path: str) -> None:
        self.db_path = db_path
        self.lock_path = db_path + ".lock"
        self.want_path = db_path + ".want"
        self._fd: int | None = None
        self._probe_fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, timeout: float) -> None:
        """Take the lock, waiting at most ``timeout`` seconds in all, then raise
        ``LockTimeout``."""
        deadline = time.monotonic() + timeout
        want_fd = open_private(self.want_path)
        try:
            # Contended only for the instant a holder probes with LOCK_EX|LOCK_NB, but a
            # holder stopped (SIGSTOP, a debugger) in that instant kept a blocking
            # LOCK_SH waiting for ever: polled, under the same deadline.
            if not _flock_polled(want_fd, fcntl.LOCK_SH, deadline):
                raise self.timed_out(timeout)
            fd = open_private(self.lock_path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not self._wait_blocking(fd, max(0.0, deadline - time.monotonic())):
                    raise self.timed_out(timeout) from None
        finally:
            os.close(want_fd)  # closing drops the shared lock: we are no longer waiting
        self._fd = fd  # held from here on: release() closes it whatever happens next
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)

    def timed_out(self, timeout: float) -> LockTimeout:
        """The error of a wait that gave up after ``timeout`` seconds: who holds the
        file and what to do."""
        pid = self.holder_pid()
        if pid == os.getpid():
            holder = "this process (another of its threads kept it busy)"
        else:
            holder = f"process {pid or '(unknown)'}"
        return LockTimeout(
            f"The agent database {self.db_path} is held by {holder} and was not released "
            f"within {timeout:g} s. Close the other kernel or session using it (a "
            "stopped or hung process keeps it until it ends), or use another db file.")

    @staticmethod
    def _wait_blocking(fd: int, timeout: float) -> bool:
        # flock has no timeout and polling is unfair, so block in a helper thread.
        got = threading.Event()
        guard = threading.Lock()
        abandoned = False

        def block() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with guard:
                if abandoned:
                    os.close(fd)  # releases the lock we no longer want
                    return
                got.set()

        threading.Thread(target=block, name="agentmem-flock", daemon=True).start()
        try:
            if got.wait(timeout):
                return True
        except BaseException:
            # Ctrl-C while waiting: if the thread got the lock meanwhile, give it back;
            # otherwise tell it to, whenever it gets it. Never keep a lock we gave up on.
            with guard:
                abandoned = True
                if got.is_set():
                    os.close(fd)
            raise
        with guard:
            if got.is_set():
                return True
            abandoned = True
        return False

    def others_waiting(self) -> bool:
        """True when another process holds a shared lock on the ``.want`` file."""
        if self._probe_fd is None:
            self._probe_fd = open_private(self.want_path)
        try:
            fcntl.flock(self._probe_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._probe_fd, fcntl.LOCK_UN)
        return False

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def forget_after_fork(self) -> None:
        """In a forked child: drop our copies of the fds without touching the parent's lock."""
        for fd in (self._fd, self._probe_fd):
            if fd is not None:
                try:
                    os.close(fd)  # flock is shared with the parent's description: close only
                except OSError:
                    pass
        self._fd = self._probe_fd = None

    def holder_pid(self) -> int | None:
        try:
            with open(self.lock_path) as f:
                text = f.read().strip()
            return int(text) if text else None
        except (OSError, ValueError):
            return None


WANT_POLL_S = 0.005  # .want is contended for microseconds: a short poll costs nothing


def _flock_polled(fd: int, operation: int, deadline: float) -> bool:
    """``flock(fd, operation)`` retried without blocking until ``deadline``."""
    while True:
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(WANT_POLL_S)
