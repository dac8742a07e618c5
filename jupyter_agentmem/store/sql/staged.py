"""The user's message kept while the model is called; the runs a dead process left.

Before a turn calls the model, its user message (the run id assigned up front) goes to
this process's file of turns in flight (``store/journal.py``: one ``write``, no commit),
so the first token never waits for a disk write. Each piece of the reply is written there
before it is shown, and a run whose commit is deferred (``sql/deferred.py``) is written
there whole before the turn is done. Committing the message first instead, even in a
thread overlapping the request, made turns 1.3-1.6x slower on DuckDB (its fsync); a
pending run row completed by an UPDATE, 2-4x (bench/RESULTS.md).

A turn whose run never came, because its process died in between, is kept (``recover``):
as the run it was when it had finished (its commit deferred), else as a run with status
``interrupted`` holding the user's message and the part of the reply already shown; when
a process opens the database, and at an append that does not come from the run cache. A
live process's turns are left to it; one taken for dead wrongly finds its run kept and
completes it (``SqlStore._completes_interrupted``). A turn into a session that belongs to
another user is not kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ...types import INTERRUPTED_ERROR, Message, Run, utcnow
from ..base import StoreError
from ..journal import Journal, writer_alive, writer_id
from ..values import check_params, text_problem
from .engine import Connection, Engine
from .run_rows import LockSession, insert_run
from .term_index import index_docs

log = logging.getLogger(__name__)


def turn_entry(run: Run, user_id: str | None) -> dict[str, Any]:
    """A turn as the file of turns in flight holds it (the run and its user message)."""
    message = run.messages[0]
    return {"run_id": run.run_id, "session_id": run.session_id, "user_id": user_id,
            "model": run.model, "cell_id": run.cell_id,
            "created_at": run.created_at.isoformat(), "message_id": message.message_id,
            "role": message.role, "content": message.content,
            "message_created_at": message.created_at.isoformat()}


def delta_entry(run: Run, delta: str) -> dict[str, Any]:
    """A piece of the reply, written before it is shown (the file keeps what was seen)."""
    return {"run_id": run.run_id, "delta": delta}


def run_entry(run: Run, user_id: str | None) -> dict[str, Any]:
    """The whole finished run (reply, usage, request), written before the turn is done
    when its commit comes later (sql/deferred.py)."""
    return {"run_id": run.run_id, "user_id": user_id, "supersede_cell": run.supersede_cell,
            "run": run.model_dump(mode="json")}


def failed_entry(run: Run, user_id: str | None) -> dict[str, Any]:
    """A turn whose append failed (the caller was told), kept in the process: stored as
    interrupted later, with its message and the reply shown."""
    shown = run.messages[1].content if len(run.messages) > 1 else None
    return {**turn_entry(run, user_id), "shown": shown or ""}


def unstored_entry(run: Run, user_id: str | None) -> dict[str, Any]:
    """A finished turn whose deferred commit failed (the caller was told it was stored),
    kept in the process: stored as it was later, its message and its run."""
    return {**turn_entry(run, user_id), **run_entry(run, user_id)}


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
        if writer_alive(writer, _staged_at(written)):
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


def turns_to_keep(journal: Journal) -> bool:
    """Whether ``recover`` has turns to keep: our own failed appends, or a file of a
    process that is gone holding turns."""
    if journal.take_unstored():
        return True
    return any(written and not writer_alive(writer, _staged_at(written))
               for _, writer, written in journal.others(writer_id()))


def _staged_at(written: list[dict[str, Any]]) -> datetime:
    return next((_time(w["created_at"]) for w in written if "created_at" in w), utcnow())


def _nothing() -> None:
    pass


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _gathered(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines of files of turns in flight, one dict per turn (in the order written):
    its first line's keys, ``reply`` (its deltas joined) and ``run`` when finished."""
    turns: dict[str, dict[str, Any]] = {}
    for line in lines:
        run_id = line.get("run_id")
        if not isinstance(run_id, str):
            continue
        turn = turns.setdefault(run_id, {"deltas": []})
        if "delta" in line:
            turn["deltas"].append(str(line["delta"]))
        else:
            turn.update(line)
    out = []
    for turn in turns.values():
        if "content" not in turn and "run" not in turn:
            continue  # deltas alone: its first line was cut by the kill (never sent)
        deltas = "".join(turn.pop("deltas"))
        turn["reply"] = turn.get("shown") or deltas
        out.append(turn)
    return out


def _finished_run(turn: dict[str, Any]) -> Run | None:
    """The run a turn's file says was finished, when it can be stored as it is."""
    if "run" not in turn:
        return None
    try:
        run = Run.model_validate(turn["run"])
        run.supersede_cell = bool(turn.get("supersede_cell"))
        check_params([run.run_id, run.session_id, run.model, run.error, run.cell_id,
                      turn.get("user_id"), run.input_tokens, run.output_tokens]
                     + [v for m in run.messages for v in (m.message_id, m.content, m.name,
                                                           m.tool_call_id)])
    except (ValueError, StoreError):
        return None
    return run if run.messages else None


def _keep_interrupted(con: Connection, lock_session: LockSession,
                      lines: list[dict[str, Any]]) -> list[str]:
    """Store each turn whose run is not stored: as the run it was when it had finished
    (its reply shown, its commit not yet made), else as an interrupted run with its
    message and the part of the reply already shown."""
    turns = _gathered(lines)
    ids = [t["run_id"] for t in turns]
    if not ids:
        return []
    stored = {r[0] for r in con.execute(
        f"SELECT run_id FROM runs WHERE run_id IN ({', '.join(['?'] * len(ids))})",
        ids).fetchall()}
    kept = []
    for turn in sorted(turns, key=lambda t: _time(t.get("created_at")
                                                  or t["run"]["created_at"])):
        run_id = turn["run_id"]
        if run_id in stored:
            continue  # stored whole: its process died after that
        finished = _finished_run(turn)
        session = finished.session_id if finished is not None else turn["session_id"]
        user_id = turn.get("user_id")
        lock_session(con, session)
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            continue  # stored meanwhile by another process
        now = utcnow()
        owner = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                            [session]).fetchone()
        if owner is None:  # the session's first turn died
            con.execute("INSERT INTO sessions (session_id, user_id, agent_name, model, "
                        "created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [session, user_id, turn.get("model"), now, now])
        elif owner[0] is not None and user_id is not None and owner[0] != user_id:
            log.warning("run %s was not kept: its session belongs to another user", run_id)
            continue
        (seq,) = con.execute("SELECT coalesce(max(seq), -1) + 1 FROM runs "
                             "WHERE session_id = ?", [session]).fetchone()
        if finished is not None:
            insert_run(con, finished, seq, user_id, lock_session)
            kept.append(run_id)
            continue
        message_id, role, content = turn["message_id"], turn["role"], turn["content"]
        con.execute("INSERT INTO messages VALUES (?, ?, ?, 0, ?, ?, NULL, NULL, NULL, ?, "
                    "NULL, NULL)",
                    [message_id, session, run_id, role, content,
                     _time(turn["message_created_at"])])
        con.execute("INSERT INTO runs (run_id, session_id, seq, status, model, error, "
                    "user_id, created_at, cell_id) VALUES (?, ?, ?, 'interrupted', ?, ?, ?, "
                    "?, ?)",
                    [run_id, session, seq, turn["model"], INTERRUPTED_ERROR,
                     user_id, _time(turn["created_at"]), turn["cell_id"]])
        docs = [(message_id, "messages", session, user_id, run_id, role, content)]
        shown = turn["reply"]
        if shown and text_problem(shown) is None:  # what the user saw of the reply
            reply = Message(role="assistant", content=shown)
            con.execute("INSERT INTO messages VALUES (?, ?, ?, 1, 'assistant', ?, NULL, "
                        "NULL, NULL, ?, NULL, NULL)",
                        [reply.message_id, session, run_id, shown, reply.created_at])
            docs.append((reply.message_id, "messages", session, user_id, run_id,
                         "assistant", shown))
        index_docs(con, [d for d in docs if d[6]])
        kept.append(run_id)
    return kept
