"""The user's message kept while the model is called; the runs a dead process left.

Before a turn calls the model, its user message (the run id assigned up front) goes to
this process's file of turns in flight (``store/journal.py``: one ``write``, no commit),
so the first token never waits for a disk write and ``append_run`` stores the whole run
as before. Committing the message first instead, even in a thread overlapping the
request, made turns 1.3-1.6x slower on DuckDB (its fsync); a pending run row completed
by an UPDATE, 2-4x (bench/RESULTS.md).

A turn whose run never came, because its process died in between, is kept as a run with
status ``interrupted`` holding the user's message (``recover``): when a process opens
the database, and at an append that does not come from the run cache. A live process's
turns are left to it; one taken for dead wrongly finds its run kept and completes it
(``SqlStore._completes_interrupted``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, get_args

from ...types import INTERRUPTED_ERROR, Role, Run, new_id, utcnow
from ..base import StoreError
from ..journal import warn, writer_alive, writer_id
from ..values import ID_MAX_CHARS, check_id, text_problem
from .engine import Connection, Engine
from .term_index import index_docs

log = logging.getLogger(__name__)

LockSession = Callable[[Connection, str], None]
_CHUNK = 500  # ids per IN (...): a hostile file may hold many turns


def turn_entry(run: Run, user_id: str | None) -> dict[str, Any]:
    """A turn as the file of turns in flight holds it (the run and its user message)."""
    message = run.messages[0]
    return {"run_id": run.run_id, "session_id": run.session_id, "user_id": user_id,
            "model": run.model, "cell_id": run.cell_id,
            "created_at": run.created_at.isoformat(), "message_id": message.message_id,
            "role": message.role, "content": message.content,
            "message_created_at": message.created_at.isoformat()}


def recover(con: Connection, engine: Engine) -> Callable[[], None]:
    """Keep each turn of a process that is gone (and each of ours whose append failed)
    as an ``interrupted`` run. Returns what to do once this transaction is committed
    (delete the files it emptied, move the damaged ones aside, say what was refused).

    A file is hostile input: a turn that is not one (``turn_problem``), or whose message
    id is taken by another run, is left out and its file moved aside once the others
    are kept; a file or folder that is not ours is never read (``store/journal.py``)."""
    journal = engine.journal
    if journal is None:
        return _nothing
    turns: list[dict[str, Any]] = journal.take_unstored()  # our own appends that failed
    own = [turn["run_id"] for turn in turns]
    files, refused = journal.others(writer_id())
    done: list[str] = []
    damaged: dict[str, list[tuple[int, str]]] = {}  # file name -> (line, what is wrong)
    of_file: dict[str, tuple[str, int]] = {}  # run id -> the file and line it came from
    for file in files:
        valid = []
        for number, entry in file.entries:
            problem = turn_problem(entry)
            if problem is None:
                valid.append((number, entry))
            else:
                file.problems.append((number, f"line {number}: {problem}"))
        staged_at = _time(valid[0][1]["created_at"]) if valid else file.modified
        if writer_alive(file.writer, staged_at):
            continue  # a live process's file (its turns in flight, or empty): its own
        for number, turn in valid:
            of_file.setdefault(turn["run_id"], (file.name, number))
            turns.append(turn)
        if file.problems:
            damaged[file.name] = file.problems
        else:
            done.append(file.name)
    conflicts = _taken_ids(con, turns)
    for turn, problem in conflicts:
        name, number = of_file.get(turn["run_id"], ("", 0))
        if name:
            damaged.setdefault(name, []).append((number, f"line {number}: {problem}"))
            if name in done:
                done.remove(name)
    left_out = {id(turn) for turn, _ in conflicts}
    turns = [turn for turn in turns if id(turn) not in left_out]
    kept = _keep_interrupted(con, engine.lock_session, turns) if turns else []
    if kept:
        log.debug("kept %d interrupted run(s): %s", len(kept), ", ".join(kept))

    def after_commit() -> None:
        if done or own:
            journal.forget(done, own)
        for name, problems in damaged.items():
            journal.move_aside(name, problems)
        for reason in refused:
            warn(f"A file of turns in flight was refused: {reason}.")

    return after_commit


def _nothing() -> None:
    pass


def _time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:  # stored as naive UTC (types.utcnow)
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


_IDS = ("run_id", "session_id", "message_id")
_OPTIONAL_TEXTS = ("model", "cell_id", "content")
_TIMES = ("created_at", "message_created_at")
ROLES = get_args(Role)


def turn_problem(turn: dict[str, Any]) -> str | None:
    """What makes ``turn`` (a line of a file of turns in flight) not one ``turn_entry``
    wrote, that the store could keep; None when it is one."""
    for key in _IDS + (("user_id",) if turn.get("user_id") is not None else ()):
        try:
            check_id(turn.get(key), key)
        except StoreError as exc:
            return str(exc).rstrip(".")
    for key in _OPTIONAL_TEXTS:
        value = turn.get(key)
        if value is not None and not isinstance(value, str):
            return f"{key} is not text"
        if value is not None and (problem := text_problem(value)) is not None:
            return f"{key} {problem}"
    if turn.get("role") not in ROLES:
        return "role is not one of " + ", ".join(ROLES)
    for key in _TIMES:
        value = turn.get(key)
        if not isinstance(value, str):
            return f"{key} is not a time"
        try:
            _time(value)
        except ValueError:
            return f"{key} is not a time"
    return None


def _taken_ids(con: Connection, turns: list[dict[str, Any]]) -> list[tuple[dict, str]]:
    """The turns that cannot be kept because their message id is another run's (stored,
    or an earlier turn here), each with why. A turn whose run is stored is left to
    ``_keep_interrupted`` (stored whole: nothing to keep)."""
    taken: set[str] = set()
    runs: set[str] = set()
    for start in range(0, len(turns), _CHUNK):
        chunk = turns[start:start + _CHUNK]
        marks = ", ".join(["?"] * len(chunk))
        taken |= {r[0] for r in con.execute(
            f"SELECT message_id FROM messages WHERE message_id IN ({marks})",
            [t["message_id"] for t in chunk]).fetchall()}
        runs |= {r[0] for r in con.execute(
            f"SELECT run_id FROM runs WHERE run_id IN ({marks})",
            [t["run_id"] for t in chunk]).fetchall()}
    found = []
    claimed: dict[str, str] = {}  # message id -> the run of the first turn holding it
    for turn in turns:
        run_id, message_id = turn["run_id"], turn["message_id"]
        if run_id in runs:
            continue  # stored whole: its process died after that
        # A stored message whose run is not stored is another run's (a run and its
        # messages are written, and purged, together).
        if claimed.setdefault(message_id, run_id) != run_id or message_id in taken:
            found.append((turn, "its message id is another run's"))
    return found


def _keep_interrupted(con: Connection, lock_session: LockSession,
                      turns: list[dict[str, Any]]) -> list[str]:
    """Store each turn whose run is not stored as an interrupted run with its message."""
    ids = [t["run_id"] for t in turns]
    stored = {r[0] for r in con.execute(
        f"SELECT run_id FROM runs WHERE run_id IN ({', '.join(['?'] * len(ids))})",
        ids).fetchall()}
    kept = []
    for turn in sorted(turns, key=lambda t: _time(t["created_at"])):
        run_id, session = turn["run_id"], turn["session_id"]
        if run_id in stored:
            continue  # stored whole: its process died after that
        lock_session(con, session)
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            continue  # stored meanwhile by another process
        message_id, role, content = turn["message_id"], turn["role"], turn["content"]
        error = INTERRUPTED_ERROR
        writer = turn["user_id"]
        owner = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                            [session]).fetchone()
        if owner is not None and owner[0] is not None and writer is not None \
                and owner[0] != writer:
            # Another user took the id while this turn was in flight: the turn goes to
            # a new session of its writer's, never into hers (sql/owner.py).
            taken = session
            session = _kept_session_id(taken, run_id)
            lock_session(con, session)
            error = (f"{INTERRUPTED_ERROR}; session {taken!r} was taken by another user "
                     f"meanwhile, so this turn was kept in a new session, {session!r}")
            now = utcnow()
            con.execute("INSERT INTO sessions (session_id, user_id, agent_name, model, "
                        "created_at, updated_at, session_name) VALUES (?, ?, NULL, ?, ?, ?, "
                        "?) ON CONFLICT DO NOTHING",
                        [session, writer, turn["model"], now, now, f"kept from {taken}"])
        con.execute("INSERT INTO messages VALUES (?, ?, ?, 0, ?, ?, NULL, NULL, NULL, ?, "
                    "NULL, NULL)",
                    [message_id, session, run_id, role, content,
                     _time(turn["message_created_at"])])
        now = utcnow()
        if con.execute("SELECT 1 FROM sessions WHERE session_id = ?",
                       [session]).fetchone() is None:  # the session's first turn died
            con.execute("INSERT INTO sessions (session_id, user_id, agent_name, model, "
                        "created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [session, turn["user_id"], turn["model"], now, now])
        (seq,) = con.execute("SELECT coalesce(max(seq), -1) + 1 FROM runs "
                             "WHERE session_id = ?", [session]).fetchone()
        con.execute("INSERT INTO runs (run_id, session_id, seq, status, model, error, "
                    "user_id, created_at, cell_id) VALUES (?, ?, ?, 'interrupted', ?, ?, ?, "
                    "?, ?)",
                    [run_id, session, seq, turn["model"], error,
                     turn["user_id"], _time(turn["created_at"]), turn["cell_id"]])
        if content:
            index_docs(con, [(message_id, "messages", session, turn["user_id"], run_id,
                              role, content)])
        kept.append(run_id)
    return kept


def _kept_session_id(taken: str, run_id: str) -> str:
    """A new session id for a turn whose session another user took: the old one with a
    mark, when that fits, so the user can find it."""
    kept = f"{taken}-kept-{run_id[:8]}"
    return kept if len(kept) <= ID_MAX_CHARS else new_id()
