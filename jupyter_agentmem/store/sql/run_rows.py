"""A run's rows: the run, its messages (and their search index), its request, its cell.

Written inside a caller's transaction by every path that stores a whole run: an append
(``SqlStore.append_run``), a deferred append (``sql/deferred.py``) and the recovery of a
run a dead process had finished but not committed (``sql/staged.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

from ...types import Run
from . import cells, contexts
from .engine import Connection
from .term_index import changed, index_docs

RUN_COLS = (
    "run_id, session_id, seq, status, model, input_tokens, output_tokens, latency_ms, "
    "error, created_at"
)
LockSession = Callable[[Connection, str], None]


class RunWritten(NamedTuple):
    """What ``insert_run`` did: whether the run superseded one of its cell, and how its
    texts are found by the search index: by the run's number (``appended``, where the
    engine numbers appends: no index rows written) or by each owner's new revision
    (``revs``, ``term_index.index_docs``)."""

    superseded: bool
    revs: dict[str | None, int]
    appended: int | None


def insert_run(con: Connection, run: Run, seq: int, user_id: str | None,
               lock_session: LockSession) -> RunWritten:
    """Insert ``run`` as number ``seq`` of its session (the session's row exists and its
    owner was checked by the caller)."""
    (appended,) = con.execute(
        f"INSERT INTO runs ({RUN_COLS}, user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING search_seq",  # its number, where numbered (no slower: measured)
        [run.run_id, run.session_id, seq, run.status, run.model, run.input_tokens,
         run.output_tokens, run.latency_ms, run.error, run.created_at, user_id],
    ).fetchone()
    # Numbered: its texts are found by the number (sql/term_index.py), no index rows.
    revs = insert_messages(con, run, user_id, 0,
                           indexed=len(run.messages) if appended is not None else 0)
    contexts.write(con, run, lock_session)
    return RunWritten(cells.record(con, run), revs, appended)


def insert_messages(con: Connection, run: Run, user_id: str | None, first: int,
                    indexed: int = 0) -> dict[str | None, int]:
    """``run.messages[first:]`` (the earlier ones are stored) and the search index rows
    of ``run.messages[indexed:]``."""
    new = list(enumerate(run.messages))[first:]
    if new:
        # One multi-row INSERT (placeholders only): executemany is ~1 ms slower.
        row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"  # edited, deleted
        con.execute(
            "INSERT INTO messages VALUES " + ", ".join([row] * len(new)),
            [v for i, m in new for v in (
                m.message_id, run.session_id, run.run_id, i, m.role, m.content,
                m.name, json.dumps(m.tool_calls) if m.tool_calls else None,
                m.tool_call_id, m.created_at)],
        )
    return index_docs(con, [
        (m.message_id, "messages", run.session_id, user_id, run.run_id, m.role,
         m.content) for m in run.messages[indexed:] if m.content])


def drop_shown_reply(con: Connection, run_id: str) -> None:
    """Remove what an interrupted run kept of its reply (the part shown before its
    process was taken for dead): the whole reply replaces it."""
    shown = [r[0] for r in con.execute(
        "SELECT message_id FROM messages WHERE run_id = ? AND seq > 0", [run_id]).fetchall()]
    changed(con, shown, deleted=True)  # its owner's index drops them at its next search
    con.execute("DELETE FROM messages WHERE run_id = ? AND seq > 0", [run_id])
