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
from datetime import datetime
from typing import Any

from ...types import INTERRUPTED_ERROR, Run, new_id, utcnow
from ..journal import writer_alive, writer_id
from ..values import ID_MAX_CHARS
from .engine import Connection, Engine
from .term_index import index_docs

log = logging.getLogger(__name__)

LockSession = Callable[[Connection, str], None]


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
    (delete the files it emptied)."""
    journal = engine.journal
    if journal is None:
        return _nothing
    turns: list[dict[str, Any]] = journal.take_unstored()  # our own appends that failed
    own = [turn["run_id"] for turn in turns]
    paths: list[str] = []
    for path, writer, written in journal.others(writer_id()):
        if writer_alive(writer, _time(written[0]["created_at"]) if written else utcnow()):
            continue  # a live process's file (its turns in flight, or empty): its own
        turns += written
        paths.append(path)
    kept = _keep_interrupted(con, engine.lock_session, turns) if turns else []
    if kept:
        log.debug("kept %d interrupted run(s): %s", len(kept), ", ".join(kept))

    def after_commit() -> None:
        if paths or own:
            journal.forget(paths, own)

    return after_commit


def _nothing() -> None:
    pass


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


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
