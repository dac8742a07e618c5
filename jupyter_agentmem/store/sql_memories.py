"""The memories and summaries half of the shared SQL (a mixin of ``SqlStore``).

Split from ``sql_store.py`` to keep each file small; the same ``?`` SQL runs on
DuckDB and PostgreSQL. Soft deletes set ``deleted_at``; every change writes a
``memory_events`` row so it can be undone.
"""

from __future__ import annotations

import json
from typing import Any

from ..types import Memory, SessionSummary, new_id, utcnow
from .base import StoreError

_MEMORY_COLS = (
    "memory_id, user_id, memory, topics, input, session_id, created_at, updated_at, deleted_at"
)
_SUMMARY_COLS = "session_id, version, summary, topics, through_run_seq, created_at"


class MemorySummarySql:
    """User memories and session summary versions, in SQL tables."""

    db: Any  # SharedDuckDb or PostgresDb (see SqlStore)
    # --- memories -------------------------------------------------------------
    def user_memories(self, user_id: str, include_deleted: bool = False) -> list[Memory]:
        live = "" if include_deleted else "AND deleted_at IS NULL"
        with self.db.connection() as con:
            rows = con.execute(
                f"SELECT {_MEMORY_COLS} FROM memories WHERE user_id = ? {live} "
                "ORDER BY created_at, memory_id", [user_id]).fetchall()
        keys = [c.strip() for c in _MEMORY_COLS.split(",")]
        return [Memory(**{**dict(zip(keys, r)), "topics": r[3] or []}) for r in rows]

    def get_memory(self, user_id: str, memory_id: str) -> Memory | None:
        return next((m for m in self.user_memories(user_id, include_deleted=True)
                     if m.memory_id == memory_id), None)

    def add_memory(self, memory: Memory, actor: str = "model") -> Memory:
        with self.db.transaction() as con:
            con.execute(
                f"INSERT INTO memories ({_MEMORY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [memory.memory_id, memory.user_id, memory.memory, memory.topics, memory.input,
                 memory.session_id, memory.created_at, memory.updated_at])
            self._event(con, "memory", memory.memory_id, memory.user_id, memory.session_id,
                        "add", None, {"memory": memory.memory, "topics": memory.topics}, actor)
        return memory

    def _live_memory(self, con: Any, user_id: str, memory_id: str) -> tuple:
        # Scoped by user: no id can reach another user's memory.
        row = con.execute(
            "SELECT memory, topics, deleted_at FROM memories WHERE memory_id = ? AND user_id = ?",
            [memory_id, user_id]).fetchone()
        if row is None:
            raise StoreError(f"memory {memory_id} does not exist for user {user_id!r}")
        return row

    def update_memory(self, user_id: str, memory_id: str, memory: str,
                      topics: list[str] | None, actor: str) -> Memory:
        if not memory or not memory.strip():
            raise StoreError("a memory cannot be empty")
        with self.db.transaction() as con:
            old_memory, old_topics, deleted_at = self._live_memory(con, user_id, memory_id)
            if deleted_at is not None:
                raise StoreError(f"memory {memory_id} was deleted")
            new_topics = list(old_topics or []) if topics is None else topics
            con.execute("UPDATE memories SET memory = ?, topics = ?, updated_at = ? "
                        "WHERE memory_id = ?", [memory, new_topics, utcnow(), memory_id])
            self._event(con, "memory", memory_id, user_id, None, "update",
                        {"memory": old_memory, "topics": list(old_topics or [])},
                        {"memory": memory, "topics": new_topics}, actor)
        return self.get_memory(user_id, memory_id)

    def delete_memory(self, user_id: str, memory_id: str, actor: str) -> None:
        with self.db.transaction() as con:
            old_memory, _, deleted_at = self._live_memory(con, user_id, memory_id)
            if deleted_at is not None:
                raise StoreError(f"memory {memory_id} was already deleted")
            con.execute("UPDATE memories SET deleted_at = ? WHERE memory_id = ?",
                        [utcnow(), memory_id])
            self._event(con, "memory", memory_id, user_id, None, "delete",
                        {"memory": old_memory}, None, actor)

    def restore_memory(self, user_id: str, memory_id: str, actor: str) -> None:
        with self.db.transaction() as con:
            memory, _, deleted_at = self._live_memory(con, user_id, memory_id)
            if deleted_at is None:
                return
            con.execute("UPDATE memories SET deleted_at = NULL WHERE memory_id = ?", [memory_id])
            self._event(con, "memory", memory_id, user_id, None, "restore", None,
                        {"memory": memory}, actor)

    def delete_user_memories(self, user_id: str, actor: str) -> int:
        with self.db.transaction() as con:
            ids = [r[0] for r in con.execute(
                "SELECT memory_id FROM memories WHERE user_id = ? AND deleted_at IS NULL",
                [user_id]).fetchall()]
            for memory_id in ids:
                self.delete_memory(user_id, memory_id, actor)
        return len(ids)

    # --- summaries ------------------------------------------------------------
    def _summaries(self, where: str, params: list[Any]) -> list[SessionSummary]:
        with self.db.connection() as con:
            rows = con.execute(f"SELECT {_SUMMARY_COLS}, deleted_at FROM summaries "
                               f"WHERE {where} ORDER BY version", params).fetchall()
        keys = [*(c.strip() for c in _SUMMARY_COLS.split(",")), "deleted_at"]
        return [SessionSummary(**{**dict(zip(keys, r)), "topics": r[3] or []}) for r in rows]

    def latest_summary(self, session_id: str) -> SessionSummary | None:
        # A deleted version is skipped: the newest live one is what the model gets
        # (and what the next incremental summary builds on).
        found = self._summaries(
            "session_id = ? AND version = (SELECT max(version) FROM summaries "
            "WHERE session_id = ? AND deleted_at IS NULL)", [session_id, session_id])
        return found[0] if found else None

    def list_summaries(self, session_id: str,
                       include_deleted: bool = False) -> list[SessionSummary]:
        live = "" if include_deleted else " AND deleted_at IS NULL"
        return self._summaries("session_id = ?" + live, [session_id])

    def add_summary(self, summary: SessionSummary, actor: str = "model") -> SessionSummary:
        with self.db.transaction() as con:
            self.db.lock_session(con, summary.session_id)
            (version,) = con.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM summaries WHERE session_id = ?",
                [summary.session_id]).fetchone()
            stored = summary.model_copy(update={"version": version})
            con.execute(
                f"INSERT INTO summaries ({_SUMMARY_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                [stored.session_id, version, stored.summary, stored.topics,
                 stored.through_run_seq, stored.created_at])
            self._event(con, "summary", f"{stored.session_id}#{version}", None,
                        stored.session_id, "add", None,
                        {"summary": stored.summary, "topics": stored.topics}, actor)
        return stored

    def edit_summary(self, session_id: str, version: int, summary: str,
                     topics: list[str] | None, actor: str) -> None:
        if not summary or not summary.strip():
            raise StoreError("a summary cannot be empty")
        with self.db.transaction() as con:
            row = self._summary_state(con, session_id, version)
            if row[2] is not None:
                raise StoreError(f"summary version {version} was deleted")
            new_topics = list(row[1] or []) if topics is None else topics
            con.execute("UPDATE summaries SET summary = ?, topics = ?, edited_at = ? "
                        "WHERE session_id = ? AND version = ?",
                        [summary, new_topics, utcnow(), session_id, version])
            self._event(con, "summary", f"{session_id}#{version}", None, session_id, "edit",
                        {"summary": row[0], "topics": list(row[1] or [])},
                        {"summary": summary, "topics": new_topics}, actor)

    @staticmethod
    def _summary_state(con: Any, session_id: str, version: int) -> tuple:
        row = con.execute("SELECT summary, topics, deleted_at FROM summaries "
                          "WHERE session_id = ? AND version = ?", [session_id, version]).fetchone()
        if row is None:
            raise StoreError(f"summary version {version} of {session_id!r} does not exist")
        return row

    def delete_summary(self, session_id: str, version: int, actor: str) -> None:
        with self.db.transaction() as con:
            summary, _, deleted_at = self._summary_state(con, session_id, version)
            if deleted_at is not None:
                raise StoreError(f"summary version {version} was already deleted")
            con.execute("UPDATE summaries SET deleted_at = ? WHERE session_id = ? "
                        "AND version = ?", [utcnow(), session_id, version])
            self._event(con, "summary", f"{session_id}#{version}", None, session_id,
                        "delete", {"summary": summary}, None, actor)

    def restore_summary(self, session_id: str, version: int, actor: str) -> None:
        with self.db.transaction() as con:
            summary, _, deleted_at = self._summary_state(con, session_id, version)
            if deleted_at is None:
                return
            con.execute("UPDATE summaries SET deleted_at = NULL WHERE session_id = ? "
                        "AND version = ?", [session_id, version])
            self._event(con, "summary", f"{session_id}#{version}", None, session_id,
                        "restore", None, {"summary": summary}, actor)

    # --- events ---------------------------------------------------------------
    @staticmethod
    def _event(con: Any, target: str, target_id: str, user_id: str | None,
               session_id: str | None, action: str, old: Any, new: Any, actor: str) -> str:
        event_id = new_id()
        con.execute(
            "INSERT INTO memory_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [event_id, target, target_id, user_id, session_id, action,
             None if old is None else json.dumps(old), None if new is None else json.dumps(new),
             actor, utcnow()])
        return event_id

