"""What every part of the SQL store shares: queries as dicts, the audit events, soft deletes.

Soft deletes set ``deleted_at`` and keep the row; every change writes a
``memory_events`` row (old value, new value, actor) so it can be undone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ...types import new_id, utcnow
from ..base import StoreError
from .engine import Connection, Engine


@dataclass(frozen=True)
class SoftDeletable:
    """A kind of row that is deleted softly: how to find one and what its events keep."""

    target: str  # memory_events.target
    table: str
    where: str  # finds one row from its key parameters
    text: str  # the column whose text the events keep
    session_column: str | None  # recorded in its events
    user_column: str | None
    missing: Callable[[Sequence[Any]], str]  # the error when the key finds no row
    # Deleting or restoring it changes what history sends (the run cache must go).
    in_history: bool = False


MESSAGE = SoftDeletable(
    "message", "messages", "message_id = ?", "content", "session_id", None,
    lambda key: f"message {key[0]} no longer exists", in_history=True)
MEMORY = SoftDeletable(
    "memory", "memories", "memory_id = ? AND user_id = ?", "memory", None, "user_id",
    # Scoped by user: no id can reach another user's memory.
    lambda key: f"memory {key[0]} does not exist for user {key[1]!r}")
SUMMARY = SoftDeletable(
    "summary", "summaries", "session_id = ? AND version = ?", "summary", "session_id", None,
    lambda key: f"summary version {key[1]} of {key[0]!r} does not exist")


class SqlRows:
    """The engine, and the helpers the store's SQL shares."""

    engine: Engine

    def _dicts(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self.engine.connection() as con:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def _scalar(self, sql: str, params: Sequence[Any]) -> Any:
        with self.engine.connection() as con:
            row = con.execute(sql, params).fetchone()
            return row[0] if row is not None else None

    @staticmethod
    def _event(con: Connection, target: str, target_id: str, user_id: str | None,
               session_id: str | None, action: str, old: Any, new: Any, actor: str) -> str:
        event_id = new_id()
        con.execute(
            "INSERT INTO memory_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event_id, target, target_id, user_id, session_id, action,
             None if old is None else json.dumps(old), None if new is None else json.dumps(new),
             actor, utcnow()])
        return event_id

    def _set_deleted(self, kind: SoftDeletable, key: Sequence[Any], target_id: str,
                     delete: bool, actor: str) -> None:
        """Soft-delete (``delete``) or restore one row, with its event.

        Deleting a deleted row is refused; restoring a live one does nothing.
        """
        session = kind.session_column or "NULL"
        user = kind.user_column or "NULL"
        with self.engine.transaction() as con:
            row = con.execute(f"SELECT {kind.text}, {session}, {user}, deleted_at "
                              f"FROM {kind.table} WHERE {kind.where}", key).fetchone()
            if row is None:
                raise StoreError(kind.missing(key))
            text, session_id, user_id, deleted_at = row
            if delete and deleted_at is not None:
                raise StoreError(f"{kind.target} {target_id} was already deleted")
            if not delete and deleted_at is None:
                return
            con.execute(f"UPDATE {kind.table} SET deleted_at = ? WHERE {kind.where}",
                        [utcnow() if delete else None, *key])
            if kind.in_history:
                self.engine.recent_runs.clear()  # the cached history is out of date
            value = {kind.text: text}
            self._event(con, kind.target, target_id, user_id, session_id,
                        "delete" if delete else "restore", value if delete else None,
                        None if delete else value, actor)
