"""Turns in flight: one small file per process and database.

Before a turn calls the model, its user message is appended to this process's file
(one ``write``, ~0.05 ms, no fsync: the bytes of a process that is killed are already
the OS's; a power loss mid-turn is all that can lose them). Once no turn of the process
is in flight and every one was stored, the file is emptied (``ftruncate``). So a
non-empty file of a process that is gone names the turns it did not finish: the next
process to open the database (or to append off the run cache) keeps them as
``interrupted`` runs (sql/staged.py) and deletes the file.

The folder: ``<db>.inflight/`` beside a database file; for PostgreSQL (no file of ours
beside it) ``<tmp>/agentmem-inflight-<uid>/<hash of the URL>/``, so only processes of
this host see it. It must be ours and 0700 (else nothing is written: the turn goes on
unprotected); the files are 0600. Why a file and not a row: committing the message
first, even in a thread overlapping the request, cost +4 to +9 ms per turn on DuckDB
(1.3-1.6x), +2.4 ms on PostgreSQL and +1.8 ms on SQLite; the file costs nothing
measurable (bench/bench_inflight.py, bench/RESULTS.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import stat
import tempfile
import threading
from datetime import datetime, timedelta
from typing import Any

from ..types import utcnow
from .files import open_private, private_folder

# A writer on another host cannot be asked whether it lives: past this age its staged
# run is taken for dead (a chat request times out long before).
FOREIGN_WRITER_STALE = timedelta(hours=1)
log = logging.getLogger(__name__)


def _start_ticks(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    return stat.rsplit(b")", 1)[-1].split()[19].decode()


def writer_id() -> str:
    """This process: ``host:pid:start`` (~20 us; read again each time: pids change at fork)."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid) or ''}"


def writer_alive(writer: str, staged_at: datetime | None) -> bool:
    """Whether the process that staged a run may still complete it."""
    host, pid_text, start = (writer.rsplit(":", 2) + ["", ""])[:3]
    if host != socket.gethostname():
        return staged_at is not None and utcnow() - staged_at < FOREIGN_WRITER_STALE
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if start:  # the same pid, and the same process (not a later one given that pid)
        return _start_ticks(pid) == start
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def file_name(writer: str) -> str:
    """A writer id (host:pid:start) as a file name."""
    return writer.replace("/", "_") + ".jsonl"


def writer_of(name: str) -> str:
    return name[:-len(".jsonl")]


def beside(db_path: str) -> Journal:
    """The journal of a database file: ``<db>.inflight/``."""
    return Journal(db_path + ".inflight")


def for_server(location: str) -> Journal:
    """The journal of a database server (PostgreSQL): a private folder of this user in
    the system's temporary folder, one per database (``location`` without password)."""
    mine = os.path.join(tempfile.gettempdir(), f"agentmem-inflight-{os.geteuid()}")
    key = hashlib.sha256(location.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Journal(os.path.join(mine, key), checked=(mine,))


class Journal:
    """This process's file of turns in flight for one database, and the others'."""

    def __init__(self, folder: str, checked: tuple[str, ...] = ()) -> None:
        self.folder = folder
        self._checked = (*checked, folder)  # each must be ours and 0700
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._writer: str | None = None
        self.in_flight: set[str] = set()  # run ids written and not yet stored
        self.unstored: dict[str, dict[str, Any]] = {}  # appends that failed: kept here

    def add(self, entry: dict[str, Any]) -> None:
        """Append one turn (``entry["run_id"]``, its user message) to this process's file."""
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode(
            "utf-8", "surrogatepass")
        with self._lock:
            if self._fd is not None and os.fstat(self._fd).st_nlink == 0:
                os.close(self._fd)  # our file was deleted (by hand?): a new one (~1 us)
                self._fd = None
            if self._fd is None:  # first use (a forked child starts afresh)
                writer = writer_id()
                private_folder(self.folder)
                for folder in self._checked:  # another user's folder: never written to
                    info = os.lstat(folder)
                    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                        raise PermissionError(f"{folder} is not a folder of ours")
                    if stat.S_IMODE(info.st_mode) & 0o077:  # ours, made by hand: private
                        os.chmod(folder, 0o700)
                self._fd = open_private(os.path.join(self.folder, file_name(writer)),
                                        os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                self._writer = writer
            os.write(self._fd, line)
            self.in_flight.add(entry["run_id"])
        log.debug("stored the user's message of run %s (file of turns in flight)",
                  entry["run_id"])

    def note(self, entry: dict[str, Any]) -> bool:
        """Append more of a turn already added (a delta of its reply, the whole run):
        one ``write``; False when the turn is not in this process's file."""
        line = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode(
            "utf-8", "surrogatepass")
        with self._lock:
            if self._fd is None or entry["run_id"] not in self.in_flight:
                return False
            os.write(self._fd, line)
        return True

    def done(self, run_id: str, entry: dict[str, Any] | None) -> None:
        """The turn ended: stored (``entry`` None), or not (kept, for ``take_unstored``).
        The file is emptied when nothing of it is left to keep."""
        with self._lock:
            self.in_flight.discard(run_id)
            if entry is not None:
                self.unstored[run_id] = entry
            elif not self.in_flight and not self.unstored and self._fd is not None:
                os.ftruncate(self._fd, 0)  # O_APPEND: the next write starts at 0

    def others(self, writer: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
        """(path, writer, turns) of every other process's file (an empty one: a process
        that finished all its turns, perhaps gone: its file is deleted then)."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if not name.endswith(".jsonl") or name == file_name(writer):
                continue
            path = os.path.join(self.folder, name)
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:  # deleted meanwhile by another process
                continue
            turns = []
            for line in data.splitlines():
                try:
                    turns.append(json.loads(line.decode("utf-8", "surrogatepass")))
                except ValueError:  # a line cut by the kill: its turn never went out
                    continue
            found.append((path, writer_of(name), turns))
        return found

    def take_unstored(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.unstored.values())

    def forget(self, paths: list[str], run_ids: list[str]) -> None:
        """After a commit kept them: delete dead processes' files, drop our own turns."""
        for path in paths:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        with self._lock:
            for run_id in run_ids:
                self.unstored.pop(run_id, None)
            if not self.in_flight and not self.unstored and self._fd is not None:
                os.ftruncate(self._fd, 0)

    def close(self) -> None:
        """Let go of our file; deleted (and the folder, if empty) when nothing is kept."""
        with self._lock:
            if self.in_flight or self.unstored:
                return
            try:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                    assert self._writer is not None
                    os.unlink(os.path.join(self.folder, file_name(self._writer)))
                os.rmdir(self.folder)  # only when empty (no other process's file)
            except OSError:  # another process's file is there, or it is gone already
                pass

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        if self._fd is not None:  # the parent's file: never written or emptied here
            os.close(self._fd)
        self._fd = None
        self._writer = None
        self.in_flight = set()
        self.unstored = {}
