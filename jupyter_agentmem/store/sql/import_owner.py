"""What an import may add for the acting user: every row theirs, all or nothing.

An export file is untrusted input: a crafted ``.jsonl`` could name another user's
session (its rows would join her history and reach her prompt), her memory, her message,
or a request part whose body does not match its hash (every later request that sends
that part would show the file's text). Each such row refuses the whole import, before
anything is written, in the import's transaction (``sql/owner.py`` states the model).
Rows without a user (``user_id`` NULL) become the acting user's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from ..base import StoreError
from .engine import Connection
from .owner import not_yours

Rows = dict[str, list[dict[str, Any]]]

# The tables whose rows name their user, and those whose rows name a session.
_USER_TABLES = ("sessions", "runs", "memories", "model_calls", "provenance", "memory_events")
_SESSION_TABLES = ("runs", "messages", "summaries", "run_contexts", "model_calls",
                   "provenance", "memory_events")


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


def _existing(con: Connection, sql: str, ids: Iterable[Any]) -> list[tuple]:
    """``sql`` (with ``{marks}``) over ``ids`` in bounded chunks of placeholders."""
    found: list[tuple] = []
    # Only text ids: a value of another type is not an id (the import's own check,
    # ``TransferSql._checked``, names it).
    for chunk in _chunks(sorted({i for i in ids if isinstance(i, str)})):
        found += con.execute(sql.replace("{marks}", ", ".join("?" * len(chunk))),
                             chunk).fetchall()
    return found


def _where(table: str, i: int, row: dict[str, Any]) -> str:
    key = next((row.get(k) for k in ("session_id", "run_id", "message_id", "memory_id",
                                      "call_id", "event_id", "part_hash") if row.get(k)), None)
    return f"{table} row {i}" + (f" ({key})" if key else "")


def owned_rows(con: Connection, rows: Rows, user_id: str) -> Rows:
    """``rows`` with every missing ``user_id`` set to ``user_id``; ``StoreError`` (nothing
    written) when a row is another user's or reaches into another user's data."""
    out: Rows = {table: [dict(r) if isinstance(r, dict) else r for r in found]
                 for table, found in rows.items()}
    for table in _USER_TABLES:
        for i, row in enumerate(out.get(table, ())):
            if not isinstance(row, dict):
                continue  # the import's own check names it
            owner = row.get("user_id")
            if owner is None:
                if table != "memory_events":  # a message or summary event names no user
                    row["user_id"] = user_id
            elif owner != user_id:
                raise StoreError(f"the import names another user: {_where(table, i, row)} "
                                 f"is of user {owner!r}, and it is imported as user "
                                 f"{user_id!r}. Nothing was imported.")
    sessions = {r.get("session_id") for r in out.get("sessions", ()) if isinstance(r, dict)}
    named = {r.get("session_id") for t in _SESSION_TABLES for r in out.get(t, ())
             if isinstance(r, dict)} | sessions
    # A memory may outlive its session (no orphan check), never name another user's:
    # her session's export carries the memories naming it.
    remembered = {r.get("session_id") for r in out.get("memories", ()) if isinstance(r, dict)}
    stored = dict(_existing(con, "SELECT session_id, user_id FROM sessions "
                                 "WHERE session_id IN ({marks})", named | remembered))
    for session in sorted(s for s in remembered - named if s is not None):
        if session in stored and stored[session] not in (None, user_id):
            raise StoreError(f"the import's memories name session {session!r}: "
                             f"{not_yours(session)} Nothing was imported.")
    for session in sorted(s for s in named if s is not None):
        if session in stored and stored[session] not in (None, user_id):
            raise StoreError(f"the import names session {session!r}: {not_yours(session)} "
                             "Nothing was imported.")
        if session not in stored and session not in sessions:
            orphan = next(t for t in _SESSION_TABLES for r in out.get(t, ())
                          if isinstance(r, dict) and r.get("session_id") == session)
            raise StoreError(f"the import's {orphan} rows name session {session!r}, which "
                             "is neither in the file nor yours. Nothing was imported.")
    _check_taken(con, out, user_id)
    _check_parts(out.get("request_parts", ()))
    return out


def _check_taken(con: Connection, rows: Rows, user_id: str) -> None:
    """Ids already stored must be the same row of this user's, never another's."""
    memories = [r.get("memory_id") for r in rows.get("memories", ()) if isinstance(r, dict)]
    for memory_id, owner in _existing(con, "SELECT memory_id, user_id FROM memories "
                                           "WHERE memory_id IN ({marks})", memories):
        if owner != user_id:
            raise StoreError(f"the import's memory {memory_id} is another user's. Nothing "
                             "was imported.")
    for table, key in (("messages", "message_id"), ("runs", "run_id")):
        wanted = {r.get(key): r.get("session_id") for r in rows.get(table, ())
                  if isinstance(r, dict)}
        for found_id, session in _existing(
                con, f"SELECT {key}, session_id FROM {table} WHERE {key} IN ({{marks}})",
                wanted):
            if session != wanted[found_id]:
                raise StoreError(f"the import's {table[:-1]} {found_id} is stored in another "
                                 "session. Nothing was imported.")
    runs = [r for r in rows.get("runs", ()) if isinstance(r, dict)]
    taken = {(s, q): r for r, s, q in _existing(
        con, "SELECT run_id, session_id, seq FROM runs WHERE session_id IN ({marks})",
        {r.get("session_id") for r in runs})}
    seen: dict[tuple[Any, Any], Any] = {}
    for i, run in enumerate(runs):
        place = (run.get("session_id"), run.get("seq"))
        other = taken.get(place, seen.get(place))
        if other is not None and other != run.get("run_id"):
            raise StoreError(f"{_where('runs', i, run)}: seq {place[1]} of session "
                             f"{place[0]!r} is another run's. Nothing was imported.")
        seen[place] = run.get("run_id")


def _check_parts(parts: Iterable[Any]) -> None:
    """A request part is stored under the sha256 of its body: a file's part must match."""
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            continue
        body = part.get("body")
        if not isinstance(body, str) or (
                hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()
                != part.get("part_hash")):
            raise StoreError(f"request_parts row {i}: its body does not match its part_hash. "
                             "Nothing was imported.")
