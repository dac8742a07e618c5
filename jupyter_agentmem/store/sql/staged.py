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
completes it (``SqlStore._completes_interrupted``). A turn into a session that another
user took meanwhile goes to a new session of its writer's (``sql/owner.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, get_args

from ...types import INTERRUPTED_ERROR, Message, Role, Run, new_id, utcnow
from ..base import StoreError
from ..journal import Journal, TurnFile, warn, writer_alive, writer_id
from ..values import ID_MAX_CHARS, check_id, check_params, text_problem
from .engine import Connection, Engine
from .run_rows import LockSession, insert_run
from .term_index import index_docs

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per IN (...): a hostile file may hold many turns


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


class Recovered:
    """What ``recover`` kept (run ids), and, called, what to do once its transaction is
    committed (delete the files it emptied, move the damaged ones aside, say what was
    refused)."""

    def __init__(self, kept: list[str], after_commit: Callable[[], None]) -> None:
        self.kept = kept
        self._after_commit = after_commit

    def __call__(self) -> None:
        self._after_commit()


def recover(con: Connection, engine: Engine) -> Recovered:
    """Keep each turn of a process that is gone (and each of ours whose append failed):
    as the run it was when it had finished, else as an ``interrupted`` run.

    A file is hostile input: a line that is not one we write (``line_problem``), or a
    turn whose message id is taken by another run, is left out and its file moved aside
    once the others are kept; a file or folder that is not ours is never read
    (``store/journal.py``)."""
    journal = engine.journal
    if journal is None:
        return Recovered([], _nothing)
    lines: list[dict[str, Any]] = journal.take_unstored()  # our own appends that failed
    own = [line["run_id"] for line in lines]
    files, refused = journal.others(writer_id())
    done: list[str] = []
    damaged: dict[str, list[tuple[int, str]]] = {}  # file name -> (line, what is wrong)
    of_file: dict[str, tuple[str, int]] = {}  # run id -> the file and line it came from
    for file in files:
        valid = _valid_lines(file)
        if writer_alive(file.writer, _staged_at([e for _, e in valid], file.modified)):
            continue  # a live process's file (its turns in flight, or empty): its own
        for number, line in valid:
            of_file.setdefault(line["run_id"], (file.name, number))
            lines.append(line)
        if file.problems:
            damaged[file.name] = file.problems
        else:
            done.append(file.name)
    conflicts = _taken_ids(con, [line for line in lines if "message_id" in line])
    for turn, problem in conflicts:
        name, number = of_file.get(turn["run_id"], ("", 0))
        if name:
            damaged.setdefault(name, []).append((number, f"line {number}: {problem}"))
            if name in done:
                done.remove(name)
    left_out = {turn["run_id"] for turn, _ in conflicts}
    lines = [line for line in lines if line["run_id"] not in left_out]
    kept = _keep_interrupted(con, engine.lock_session, lines) if lines else []
    if kept:
        log.debug("kept %d run(s) of turns in flight: %s", len(kept), ", ".join(kept))

    def after_commit() -> None:
        if done or own:
            journal.forget(done, own)
        for name, problems in damaged.items():
            journal.move_aside(name, problems)
        for reason in refused:
            warn(f"A file of turns in flight was refused: {reason}.")

    return Recovered(kept, after_commit)


def _valid_lines(file: TurnFile) -> list[tuple[int, dict[str, Any]]]:
    """The lines of ``file`` that are ones we write; each other one is added to its
    problems."""
    valid = []
    for number, line in file.entries:
        problem = line_problem(line)
        if problem is None:
            valid.append((number, line))
        else:
            file.problems.append((number, f"line {number}: {problem}"))
    return valid


def turns_to_keep(journal: Journal) -> bool:
    """Whether ``recover`` has turns to keep: our own failed appends, or a file of a
    process that is gone holding turns (or damaged: it is moved aside)."""
    if journal.take_unstored():
        return True
    files, _ = journal.others(writer_id())
    return any((file.entries or file.problems) and not writer_alive(
        file.writer, _staged_at([e for _, e in file.entries], file.modified))
        for file in files)


def _staged_at(lines: list[dict[str, Any]], modified: datetime | None = None) -> datetime:
    for line in lines:
        try:
            return _time(line["created_at"])
        except (KeyError, TypeError, ValueError):
            continue
    return modified or utcnow()


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


def line_problem(line: dict[str, Any]) -> str | None:
    """What makes ``line`` not one this module writes: a turn (``turn_entry``), a piece
    of its reply (``delta_entry``) or its whole run (``run_entry``, checked when it is
    stored: one that is not a run leaves the turn interrupted); None when it is one."""
    if "delta" in line or "run" in line:
        try:
            check_id(line.get("run_id"), "run_id")
        except StoreError as exc:
            return str(exc).rstrip(".")
        if "delta" in line and not isinstance(line["delta"], str):
            return "delta is not text"
        if "run" in line and not isinstance(line["run"], dict):
            return "run is not an object"
        return None
    return turn_problem(line)


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
    message and the part of the reply already shown. A turn whose session another user
    took meanwhile goes to a new session of its writer's."""
    turns = [t for t in _gathered(lines) if "run" in t or "message_id" in t]
    ids = [t["run_id"] for t in turns]
    if not ids:
        return []
    stored: set[str] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        stored |= {r[0] for r in con.execute(
            f"SELECT run_id FROM runs WHERE run_id IN ({', '.join(['?'] * len(chunk))})",
            chunk).fetchall()}
    kept = []
    for turn in sorted(turns, key=_turn_time):
        run_id = turn["run_id"]
        if run_id in stored:
            continue  # stored whole: its process died after that
        finished = _finished_run(turn)
        if finished is None and "message_id" not in turn:
            continue  # a finished run that is not one, without its turn line: nothing
        session = finished.session_id if finished is not None else turn["session_id"]
        user_id = turn.get("user_id")
        lock_session(con, session)
        if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
            continue  # stored meanwhile by another process
        now = utcnow()
        error = INTERRUPTED_ERROR
        owner = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                            [session]).fetchone()
        if owner is not None and owner[0] is None and user_id is not None:
            # Nobody's session: the turn's write claims it, as its append would have
            # (else the next user to write there would own bob's message).
            con.execute("UPDATE sessions SET user_id = ? WHERE session_id = ? "
                        "AND user_id IS NULL", [user_id, session])
        elif owner is not None and owner[0] is not None and user_id is not None \
                and owner[0] != user_id:
            # Another user took the id while this turn was in flight: the turn goes to
            # a new session of its writer's, never into hers (sql/owner.py).
            taken = session
            session = _new_session(con, lock_session, _kept_session_id(taken, run_id),
                                   user_id, turn.get("model"), f"kept from {taken}", now)
            error = (f"{INTERRUPTED_ERROR}; session {taken!r} was taken by another user "
                     f"meanwhile, so this turn was kept in a new session, {session!r}")
            if finished is not None:
                finished.session_id = session
        if owner is None:  # the session's first turn died
            con.execute("INSERT INTO sessions (session_id, user_id, agent_name, model, "
                        "created_at, updated_at) VALUES (?, ?, NULL, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        [session, user_id, turn.get("model"), now, now])
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
        # Not numbered (search_seq NULL): its texts get index rows below, as the rest of
        # its reply does when the run is completed (sql/term_index.py).
        con.execute("INSERT INTO runs (run_id, session_id, seq, status, model, error, "
                    "user_id, created_at, cell_id, search_seq) VALUES (?, ?, ?, "
                    "'interrupted', ?, ?, ?, ?, ?, NULL)",
                    [run_id, session, seq, turn["model"], error,
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


def _turn_time(turn: dict[str, Any]) -> datetime:
    try:
        return _time(turn.get("created_at") or turn["run"]["created_at"])
    except (KeyError, TypeError, ValueError):
        return utcnow()


def _new_session(con: Connection, lock_session: LockSession, wanted: str, user_id: str,
                 model: Any, name: str, now: datetime) -> str:
    """A session of ``user_id``'s named ``name``: ``wanted`` when it is free (or theirs),
    else a fresh id (``wanted`` may exist and be another user's)."""
    for session in (wanted, new_id()):
        lock_session(con, session)
        con.execute("INSERT INTO sessions (session_id, user_id, agent_name, model, "
                    "created_at, updated_at, session_name) VALUES (?, ?, NULL, ?, ?, ?, "
                    "?) ON CONFLICT DO NOTHING", [session, user_id, model, now, now, name])
        found = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                            [session]).fetchone()
        if found is not None and found[0] == user_id:
            return session
    raise StoreError("a new session for a kept turn could not be made")


def _kept_session_id(taken: str, run_id: str) -> str:
    """A new session id for a turn whose session another user took: the old one with a
    mark, when that fits, so the user can find it."""
    kept = f"{taken}-kept-{run_id[:8]}"
    return kept if len(kept) <= ID_MAX_CHARS else new_id()
