"""What every part of the SQL store shares: queries as dicts, the audit events, soft deletes.

Soft deletes set ``deleted_at`` and keep the row; every change writes a
``memory_events`` row (old value, new value, actor) so it can be undone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ...types import new_id, utcnow
from ..base import StaleEdit, StoreError
from ..values import check_params, check_rows
from . import owner
from .bulk import insert_values
from .dialect import Dialect
from .engine import Connection, Cursor, Engine
from .term_index import mark_deleted, reindex_text


@dataclass(frozen=True)
class EditableRow:
    """A kind of row users edit and delete softly: how to find one, what its events keep."""

    target: str  # memory_events.target
    table: str
    where: str  # finds one row from its key parameters
    text: str  # the text column (never empty)
    session_column: str | None  # recorded in its events
    user_column: str | None
    missing: Callable[[Sequence[Any]], str]  # the error when the key finds no row
    stamp: str  # the column an edit sets to now
    edit_action: str  # memory_events.action of an edit
    # The columns an edit records (old and new), whichever of them it changes.
    recorded: tuple[str, ...] = ()
    # Changing it changes what history sends (the run cache must go).
    in_history: bool = False


# Keys end with the acting user: a message or summary of a session they may not see is
# not found (sql/owner.py), a memory of another user neither.
MESSAGE = EditableRow(
    "message", "messages", "message_id = ? AND " + owner.sessions_of("messages.session_id"),
    "content",
    "session_id", None,
    lambda key: f"message {key[0]} no longer exists for user {key[1]!r}", "edited_at", "edit",
    ("content",), in_history=True)
MEMORY = EditableRow(
    "memory", "memories", "memory_id = ? AND user_id = ?", "memory", None, "user_id",
    # Scoped by user: no id can reach another user's memory.
    lambda key: f"memory {key[0]} does not exist for user {key[1]!r}", "updated_at", "update",
    ("memory", "topics"))
SUMMARY = EditableRow(
    "summary", "summaries",
    "session_id = ? AND version = ? AND " + owner.sessions_of("summaries.session_id"),
    "summary", "session_id", None,
    lambda key: f"summary version {key[1]} of {key[0]!r} does not exist for user {key[2]!r}",
    "edited_at", "edit", ("summary", "topics"))
LIST_COLUMNS = ("topics",)  # stored in the dialect's list type


class CheckedConnection:
    """A connection whose every statement's parameters are checked first (``values.py``):
    a NUL byte, a lone surrogate or an integer out of range is one ``StoreError``,
    the same on every backend, before anything reaches the database."""

    __slots__ = ("_con", "_dialect")

    def __init__(self, con: Connection, dialect: Dialect | None = None) -> None:
        self._con = con
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        check_params(params)
        return self._con.execute(sql, params)

    def insert_rows(self, table: str, columns: Sequence[str],
                    rows: Sequence[Sequence[Any]]) -> None:
        """Many rows into ``table`` (``sql/bulk.py``): every value checked, then the
        dialect's bulk write, or multi-row INSERTs."""
        check_rows(rows)
        write = self._dialect.insert_rows if self._dialect is not None else None
        (write or insert_values)(self._con, table, columns, rows)


def _shown(value: Any, limit: int = 80) -> str:
    """A stored value in an error message: lists as ``a, b``, long text cut."""
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


class SqlRows:
    """The engine, and the helpers the store's SQL shares."""

    engine: Engine

    # Every statement of the shared SQL runs on a connection from these two, so every
    # backend (SQLite too) gets the same checks without knowing of them.
    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        with self.engine.connection() as con:
            yield CheckedConnection(con, self.engine.dialect)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """For reads that need none of the runs queued for their commit (search, recall,
        memories, summaries): beside the committing thread where the engine can."""
        with self.engine.reading() as con:
            yield CheckedConnection(con, self.engine.dialect)

    @contextmanager
    def _transaction(self, writes: str = "*") -> Iterator[Connection]:
        with self.engine.transaction(writes) as con:
            yield CheckedConnection(con, self.engine.dialect)

    def _dicts(self, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self._connection() as con:
            cur = con.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    def _scalar(self, sql: str, params: Sequence[Any]) -> Any:
        with self._connection() as con:
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

    @staticmethod
    def _row(con: Connection, kind: EditableRow, key: Sequence[Any],
             columns: Sequence[str], lock: str = "") -> tuple[list[Any], Any, Any, Any]:
        """``columns`` of one row, with the session and user its events record and its
        ``deleted_at``; ``StoreError`` when the key finds none. ``lock``: the dialect's
        ``lock_row``, to keep the row as read until the transaction ends."""
        session = kind.session_column or "NULL"
        user = kind.user_column or "NULL"
        row = con.execute(f"SELECT {', '.join(columns)}, {session}, {user}, deleted_at "
                          f"FROM {kind.table} WHERE {kind.where}{lock}", key).fetchone()
        if row is None:
            raise StoreError(kind.missing(key))
        *values, session_id, user_id, deleted_at = row
        return values, session_id, user_id, deleted_at

    def _set_deleted(self, kind: EditableRow, key: Sequence[Any], target_id: str,
                     delete: bool, actor: str) -> None:
        """Soft-delete (``delete``) or restore one row, with its event.

        Deleting a deleted row is refused; restoring a live one does nothing.
        """
        with self._transaction() as con:
            (text,), session_id, user_id, deleted_at = self._row(con, kind, key, (kind.text,))
            if delete and deleted_at is not None:
                raise StoreError(f"{kind.target} {target_id} was already deleted")
            if not delete and deleted_at is None:
                return
            con.execute(f"UPDATE {kind.table} SET deleted_at = ? WHERE {kind.where}",
                        [utcnow() if delete else None, *key])
            if kind.in_history:
                self.engine.recent_runs.clear()  # the cached history is out of date
            mark_deleted(con, target_id, delete)
            value = {kind.text: text}
            self._event(con, kind.target, target_id, user_id, session_id,
                        "delete" if delete else "restore", value if delete else None,
                        None if delete else value, actor)

    def _edit(self, kind: EditableRow, key: Sequence[Any], target_id: str,
              changes: dict[str, Any], actor: str,
              expected: dict[str, Any] | None = None) -> None:
        """Change some of a live row's ``recorded`` columns, with its event.

        Only the columns in ``changes`` are written; the event records every
        ``recorded`` column, old and new, so an undo puts the whole row back.
        ``expected`` (compare-and-set): the ``recorded`` columns as the caller read
        them; if the row holds other values now, ``StaleEdit`` and nothing is written.
        """
        text = changes.get(kind.text, "")
        if kind.text in changes and (not isinstance(text, str) or not text.strip()):
            raise StoreError(f"a {kind.target} cannot be empty")
        unknown = (set(changes) | set(expected or ())) - set(kind.recorded)
        if unknown:
            raise StoreError(f"a {kind.target} edit cannot change {sorted(unknown)}")
        dialect = self.engine.dialect
        with self._transaction() as con:
            values, session_id, user_id, deleted_at = self._row(
                con, kind, key, kind.recorded, dialect.lock_row if expected else "")
            if deleted_at is not None:
                raise StoreError(f"{kind.target} {target_id} was deleted")
            old = {c: dialect.decode_list(v) if c in LIST_COLUMNS else v
                   for c, v in zip(kind.recorded, values)}
            stale = [c for c, v in (expected or {}).items() if old[c] != v]
            if stale:
                now = "; ".join(f"{c} is now {_shown(old[c])}" for c in stale)
                raise StaleEdit(f"{kind.target} {target_id} was changed since it was read "
                                f"({now})", {c: old[c] for c in kind.recorded})
            new = {**old, **changes}
            sets = ", ".join(f"{c} = ?" for c in changes)
            con.execute(f"UPDATE {kind.table} SET {sets}, {kind.stamp} = ? WHERE {kind.where}",
                        [*(dialect.encode_list(v) if c in LIST_COLUMNS else v
                           for c, v in changes.items()), utcnow(), *key])
            if kind.in_history:
                self.engine.recent_runs.clear()  # the cached history is out of date
            if kind.text in changes:
                reindex_text(con, target_id, changes[kind.text])
            self._event(con, kind.target, target_id, user_id, session_id, kind.edit_action,
                        old, new, actor)
