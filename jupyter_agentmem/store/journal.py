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

The files are read as hostile input: the folder and each file are opened without
following a symbolic link and without blocking (``O_NOFOLLOW | O_NONBLOCK``, then
``fstat``), so a FIFO, a symbolic link, a file or folder of another user is refused with
a ``TurnsInFlightWarning`` and never read or followed (a FIFO opened blocking hung the
next turn forever). A file whose lines are not all turns (bad JSON, a line cut short,
wrong types: ``sql/staged.py`` checks each turn) is moved aside as
``<name>.damaged-<time>`` (kept 0600, for a person to read) with a warning, its valid
turns kept; it never makes the database unopenable.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import stat
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..types import utcnow
from .files import FILE_MODE, private_folder

# A writer on another host cannot be asked whether it lives: past this age its staged
# run is taken for dead (a chat request times out long before).
FOREIGN_WRITER_STALE = timedelta(hours=1)
# A turn is one user message (a cell, at most a few MB): a bigger file is not ours to
# read into memory (a hostile or runaway file); it is moved aside like a damaged one.
MAX_FILE_BYTES = 256 * 2**20
SUFFIX = ".jsonl"
SHOWN = 5  # problems of a damaged file said in its warning (the file has them all)
DAMAGED = ".damaged-"  # <name>.damaged-<time>: a file moved aside, never read as turns
_NO_FOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
log = logging.getLogger(__name__)


class TurnsInFlightWarning(UserWarning):
    """A file of turns in flight was damaged (moved aside, its valid turns kept) or is not
    one we may read (a FIFO, a symbolic link, another user's): refused, left alone."""


class NotOurs(PermissionError):
    """A folder or file of turns in flight that is not a plain one of ours: never used."""


@dataclass
class TurnFile:
    """A file of turns in flight as read: its lines that are JSON objects (with their line
    numbers), and what is wrong with the others."""

    name: str
    writer: str
    entries: list[tuple[int, dict[str, Any]]]
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)
    modified: datetime | None = None  # naive UTC, as the turns' times


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
    return writer.replace("/", "_") + SUFFIX


def writer_of(name: str) -> str:
    return name[:-len(SUFFIX)]


def warn(message: str) -> None:
    """Say a problem with the files of turns in flight. Warnings turned into errors must
    not make the database unopenable: then it is only logged."""
    log.debug(message)
    try:
        warnings.warn(message, TurnsInFlightWarning, stacklevel=3)
    except Exception:  # noqa: BLE001 (warnings as errors: the store must still open)
        log.debug("warning not shown", exc_info=True)


def _parse(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
    """The lines of a file that are JSON objects, and what is wrong with the others."""
    entries: list[tuple[int, dict[str, Any]]] = []
    problems: list[tuple[int, str]] = []
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cut = " (cut short)" if number == len(lines) else ""  # no newline after it
        try:
            value = json.loads(line.decode("utf-8", "surrogatepass"))
        except UnicodeDecodeError:
            problems.append((number, f"line {number} is not UTF-8 text"))
            continue
        except RecursionError:
            problems.append((number, f"line {number} is nested too deeply"))
            continue
        except ValueError:
            problems.append((number, f"line {number} is not JSON{cut}"))
            continue
        if isinstance(value, dict):
            entries.append((number, value))
        else:
            problems.append((number, f"line {number} is not a turn (a JSON object)"))
    return entries, problems


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
        # Each must be a folder of ours, each (after the first) inside the one before.
        self._checked = (*checked, folder)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._writer: str | None = None
        self.in_flight: set[str] = set()  # run ids written and not yet stored
        self.unstored: dict[str, dict[str, Any]] = {}  # appends that failed: kept here

    def _open_folder(self, create: bool) -> int | None:
        """The folder opened (a descriptor, the caller closes it) without following a
        symbolic link at any of ``_checked``; each must be a folder of ours, else
        ``NotOurs``. None: there is no folder (and ``create`` is off)."""
        if create:
            private_folder(self.folder)
        fd: int | None = None
        try:
            for path in self._checked:
                where = path if fd is None else os.path.basename(path)
                try:
                    inner = os.open(where, os.O_RDONLY | os.O_DIRECTORY | _NO_FOLLOW,
                                    dir_fd=fd)
                except FileNotFoundError:
                    if create:
                        raise
                    return None
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # O_NOFOLLOW said so
                        raise NotOurs(f"{path} is a symbolic link or not a folder") from None
                    raise
                if fd is not None:
                    os.close(fd)
                fd = inner
                info = os.fstat(fd)
                if info.st_uid != os.geteuid():
                    raise NotOurs(f"{path} belongs to another user (uid {info.st_uid})")
                if create and stat.S_IMODE(info.st_mode) & 0o077:  # ours, made by hand
                    os.fchmod(fd, 0o700)
            opened, fd = fd, None
            return opened
        finally:
            if fd is not None:
                os.close(fd)

    @contextmanager
    def _folder(self) -> Iterator[int | None]:
        """The folder to read (None: there is none); ``NotOurs`` if it is not ours."""
        fd = self._open_folder(create=False)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

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
                folder = self._open_folder(create=True)
                assert folder is not None
                try:
                    self._fd = _open_own(folder, file_name(writer),
                                         os.path.join(self.folder, file_name(writer)))
                finally:
                    os.close(folder)
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

    def others(self, writer: str) -> tuple[list[TurnFile], list[str]]:
        """Every other process's file (an empty one: a process that finished all its
        turns, perhaps gone: its file is deleted then), and why the folder or a file
        in it was refused (each said in a warning by the caller, never read)."""
        found: list[TurnFile] = []
        refused: list[str] = []
        try:
            with self._folder() as folder:
                if folder is None:
                    return [], []
                for name in os.listdir(folder):
                    if not name.endswith(SUFFIX) or name == file_name(writer):
                        continue
                    path = os.path.join(self.folder, name)
                    try:
                        data, info = _read(folder, name, path)
                    except FileNotFoundError:  # deleted meanwhile by another process
                        continue
                    except NotOurs as exc:
                        refused.append(f"{exc}: not read, left as it is")
                        continue
                    except OSError as exc:
                        refused.append(f"{path} cannot be read ({exc.strerror})")
                        continue
                    modified = datetime.fromtimestamp(info.st_mtime, timezone.utc).replace(
                        tzinfo=None)
                    if data is None:
                        found.append(TurnFile(name, writer_of(name), [], [(0, (
                            f"{info.st_size:,} bytes, more than turns in flight ever hold"))],
                            modified))
                        continue
                    entries, problems = _parse(data)
                    found.append(TurnFile(name, writer_of(name), entries, problems, modified))
        except NotOurs as exc:
            return [], [f"{exc}: the turns in flight there are not read"]
        except OSError as exc:
            return [], [f"{self.folder} cannot be read ({exc.strerror})"]
        return found, refused

    def take_unstored(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.unstored.values())

    def forget(self, names: list[str], run_ids: list[str]) -> None:
        """After a commit kept them: delete dead processes' files, drop our own turns."""
        if names:
            try:
                with self._folder() as folder:
                    for name in names if folder is not None else ():
                        try:
                            os.unlink(name, dir_fd=folder)
                        except FileNotFoundError:
                            pass
            except OSError:  # refused since it was read: the next reader says why
                log.debug("files of turns in flight not deleted", exc_info=True)
        with self._lock:
            for run_id in run_ids:
                self.unstored.pop(run_id, None)
            if not self.in_flight and not self.unstored and self._fd is not None:
                os.ftruncate(self._fd, 0)

    def move_aside(self, name: str, problems: list[tuple[int, str]]) -> None:
        """A damaged file of a dead process (its valid turns kept): renamed
        ``<name>.damaged-<time>``, 0600, and said in a warning. Never read as turns again."""
        path = os.path.join(self.folder, name)
        aside = name + DAMAGED + utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
        try:
            with self._folder() as folder:
                if folder is None:
                    return
                fd = os.open(name, os.O_RDONLY | _NO_FOLLOW, dir_fd=folder)
                try:
                    info = os.fstat(fd)
                    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                        return  # replaced meanwhile: the next reader says what it is
                    os.fchmod(fd, FILE_MODE)
                finally:
                    os.close(fd)
                os.rename(name, aside, src_dir_fd=folder, dst_dir_fd=folder)
        except FileNotFoundError:
            return  # another process moved it first
        except OSError as exc:
            warn(f"The file of turns in flight {path} is damaged and cannot be moved aside "
                 f"({exc.strerror}): move or delete it by hand.")
            return
        said = [text for _, text in sorted(problems)]
        more = len(said) - SHOWN
        shown = "; ".join(said[:SHOWN]) + (
            f"; and {more} more problem{'s' if more > 1 else ''}" if more > 0 else "")
        warn(f"The file of turns in flight {path} was damaged ({shown}). It was moved aside "
             f"as {os.path.join(self.folder, aside)} (0600); the turns that could be read "
             "were kept as interrupted runs. It may hold what a user typed: read it if "
             "you need to, then delete it.")

    def drop_user(self, user_id: str) -> int:
        """Remove ``user_id``'s turns from every file of turns in flight that can be read
        (this process's, other processes', the damaged ones moved aside) and from this
        process's unstored turns: after a purge of the user none of their text is left
        here. A line too damaged to read is removed when it names the user. Returns how
        many lines (and unstored turns) were removed."""
        removed = 0
        with self._lock:
            for run_id, entry in list(self.unstored.items()):
                if entry.get("user_id") == user_id:
                    del self.unstored[run_id]
                    removed += 1
        try:
            with self._folder() as folder:
                for name in os.listdir(folder) if folder is not None else ():
                    if not name.endswith(SUFFIX) and DAMAGED not in name:
                        continue
                    removed += self._drop_user_in(folder, name, user_id)
        except OSError as exc:  # NotOurs included
            warn(f"{self.folder}: the turns in flight of user {user_id!r} could not be "
                 f"removed ({exc})")
        return removed

    def _drop_user_in(self, folder: int, name: str, user_id: str) -> int:
        path = os.path.join(self.folder, name)
        try:
            data, _ = _read(folder, name, path)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            warn(f"{path}: the turns in flight of user {user_id!r} could not be removed "
                 f"({exc}); delete the file by hand.")
            return 0
        if data is None:
            warn(f"{path} is too large to be read: delete it by hand if it holds turns of "
                 f"user {user_id!r}.")
            return 0
        kept, removed = _without_user(data, user_id)
        if not removed:
            return 0
        if not kept.strip():
            os.unlink(name, dir_fd=folder)
            return removed
        # A new file in its place (a writer still holding the old one sees it unlinked
        # at its next turn and opens the new one: journal.add).
        temporary = f".{name}.{os.getpid()}.{threading.get_ident()}.rewrite"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, FILE_MODE,
                     dir_fd=folder)
        try:
            os.fchmod(fd, FILE_MODE)
            view = memoryview(kept)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        return removed

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


def _open_own(folder: int, name: str, path: str) -> int:
    """This process's file in ``folder``, for appending: created 0600, never through a
    symbolic link, never blocking on a FIFO; anything but a plain file of ours is refused."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NO_FOLLOW, FILE_MODE,
                 dir_fd=folder)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise NotOurs(f"{path} is not a plain file of ours")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read(folder: int, name: str, path: str) -> tuple[bytes | None, os.stat_result]:
    """A file's bytes (None: larger than ``MAX_FILE_BYTES``), read only if it is a plain
    file of ours: looked at first (``lstat``), then opened without following a link or
    blocking, and checked to be the same file (``fstat``). Else ``NotOurs``."""
    info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    if stat.S_ISLNK(info.st_mode):
        raise NotOurs(f"{path} is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise NotOurs(f"{path} is not a plain file (a FIFO, a socket or a device)")
    if info.st_uid != os.geteuid():
        raise NotOurs(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_size > MAX_FILE_BYTES:
        return None, info
    fd = os.open(name, os.O_RDONLY | _NO_FOLLOW, dir_fd=folder)
    try:
        opened = os.fstat(fd)
        if ((opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino)
                or not stat.S_ISREG(opened.st_mode)):
            raise NotOurs(f"{path} was replaced while it was read")
        chunks, size = [], 0
        while size <= MAX_FILE_BYTES:
            chunk = os.read(fd, 2**20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    return (b"".join(chunks) if size <= MAX_FILE_BYTES else None), opened


def _without_user(data: bytes, user_id: str) -> tuple[bytes, int]:
    """``data`` (lines of turns) without the lines of ``user_id``; how many were dropped.
    A line that does not read as JSON is dropped when it holds ``"user_id": <the id>``
    as ``Journal.add`` writes it."""
    named = b'"user_id": ' + json.dumps(user_id, ensure_ascii=False).encode(
        "utf-8", "surrogatepass")
    kept, removed = [], 0
    for line in data.splitlines(keepends=True):
        try:
            value = json.loads(line.decode("utf-8", "surrogatepass"))
            mine = isinstance(value, dict) and value.get("user_id") == user_id
        except (ValueError, RecursionError):  # (UnicodeDecodeError is a ValueError)
            mine = named in line
        if mine:
            removed += 1
        else:
            kept.append(line)
    return b"".join(kept), removed
