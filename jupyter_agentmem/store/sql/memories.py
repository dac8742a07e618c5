"""The memories and summaries half of the shared SQL (a mixin of ``SqlStore``).

Split from ``sql/store.py`` to keep each file small; the same ``?`` SQL runs on every
engine. Soft deletes set ``deleted_at``; every change writes a ``memory_events`` row
so it can be undone.
"""

from __future__ import annotations

from typing import Any

from ...types import Memory, SessionSummary, utcnow
from ..base import StoreError
from .engine import Connection
from .rows import MEMORY, SUMMARY, SqlRows

_MEMORY_COLS = (
    "memory_id, user_id, memory, topics, input, session_id, created_at, updated_at, deleted_at"
)
_SUMMARY_COLS = "session_id, version, summary, topics, through_run_seq, created_at"


class MemorySummarySql(SqlRows):
    """User memories and session summary versions, in SQL tables."""

    # --- memories -------------------------------------------------------------
    def user_memories(self, user_id: str, include_deleted: bool = False) -> list[Memory]:
        live = "" if include_deleted else "AND deleted_at IS NULL"
        with self.engine.connection() as con:
            rows = con.execute(
                f"SELECT {_MEMORY_COLS} FROM memories WHERE user_id = ? {live} "
                "ORDER BY created_at, memory_id", [user_id]).fetchall()
        keys = [c.strip() for c in _MEMORY_COLS.split(",")]
        topics = self.engine.dialect.decode_list
        return [Memory(**{**dict(zip(keys, r)), "topics": topics(r[3])}) for r in rows]

    def get_memory(self, user_id: str, memory_id: str) -> Memory | None:
        return next((m for m in self.user_memories(user_id, include_deleted=True)
                     if m.memory_id == memory_id), None)

    def add_memory(self, memory: Memory, actor: str = "model") -> Memory:
        with self.engine.transaction() as con:
            con.execute(
                f"INSERT INTO memories ({_MEMORY_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                [memory.memory_id, memory.user_id, memory.memory,
                 self.engine.dialect.encode_list(memory.topics), memory.input,
                 memory.session_id, memory.created_at, memory.updated_at])
            self._event(con, "memory", memory.memory_id, memory.user_id, memory.session_id,
                        "add", None, {"memory": memory.memory, "topics": memory.topics}, actor)
        return memory

    def _live_memory(self, con: Connection, user_id: str, memory_id: str) -> tuple:
        row = con.execute(
            f"SELECT memory, topics, deleted_at FROM memories WHERE {MEMORY.where}",
            [memory_id, user_id]).fetchone()
        if row is None:
            raise StoreError(MEMORY.missing([memory_id, user_id]))
        return row

    def update_memory(self, user_id: str, memory_id: str, memory: str,
                      topics: list[str] | None, actor: str) -> Memory:
        if not memory or not memory.strip():
            raise StoreError("a memory cannot be empty")
        with self.engine.transaction() as con:
            old_memory, old_topics, deleted_at = self._live_memory(con, user_id, memory_id)
            if deleted_at is not None:
                raise StoreError(f"memory {memory_id} was deleted")
            dialect = self.engine.dialect
            old_list = dialect.decode_list(old_topics)
            new_topics = old_list if topics is None else list(topics)
            con.execute("UPDATE memories SET memory = ?, topics = ?, updated_at = ? "
                        "WHERE memory_id = ?",
                        [memory, dialect.encode_list(new_topics), utcnow(), memory_id])
            self._event(con, "memory", memory_id, user_id, None, "update",
                        {"memory": old_memory, "topics": old_list},
                        {"memory": memory, "topics": new_topics}, actor)
        return self.get_memory(user_id, memory_id)

    def delete_memory(self, user_id: str, memory_id: str, actor: str) -> None:
        self._set_deleted(MEMORY, [memory_id, user_id], memory_id, True, actor)

    def restore_memory(self, user_id: str, memory_id: str, actor: str) -> None:
        self._set_deleted(MEMORY, [memory_id, user_id], memory_id, False, actor)

    def delete_user_memories(self, user_id: str, actor: str) -> int:
        with self.engine.transaction() as con:
            ids = [r[0] for r in con.execute(
                "SELECT memory_id FROM memories WHERE user_id = ? AND deleted_at IS NULL",
                [user_id]).fetchall()]
            for memory_id in ids:
                self.delete_memory(user_id, memory_id, actor)
        return len(ids)

    # --- summaries ------------------------------------------------------------
    def _summaries(self, where: str, params: list[Any]) -> list[SessionSummary]:
        with self.engine.connection() as con:
            rows = con.execute(f"SELECT {_SUMMARY_COLS}, deleted_at FROM summaries "
                               f"WHERE {where} ORDER BY version", params).fetchall()
        keys = [*(c.strip() for c in _SUMMARY_COLS.split(",")), "deleted_at"]
        topics = self.engine.dialect.decode_list
        return [SessionSummary(**{**dict(zip(keys, r)), "topics": topics(r[3])}) for r in rows]

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
        with self.engine.transaction() as con:
            self.engine.lock_session(con, summary.session_id)
            (version,) = con.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM summaries WHERE session_id = ?",
                [summary.session_id]).fetchone()
            stored = summary.model_copy(update={"version": version})
            con.execute(
                f"INSERT INTO summaries ({_SUMMARY_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                [stored.session_id, version, stored.summary,
                 self.engine.dialect.encode_list(stored.topics), stored.through_run_seq,
                 stored.created_at])
            self._event(con, "summary", summary_target(stored.session_id, version), None,
                        stored.session_id, "add", None,
                        {"summary": stored.summary, "topics": stored.topics}, actor)
        return stored

    def edit_summary(self, session_id: str, version: int, summary: str,
                     topics: list[str] | None, actor: str) -> None:
        if not summary or not summary.strip():
            raise StoreError("a summary cannot be empty")
        with self.engine.transaction() as con:
            row = self._summary_state(con, session_id, version)
            if row[2] is not None:
                raise StoreError(f"summary version {version} was deleted")
            dialect = self.engine.dialect
            old_list = dialect.decode_list(row[1])
            new_topics = old_list if topics is None else list(topics)
            con.execute(f"UPDATE summaries SET summary = ?, topics = ?, edited_at = ? "
                        f"WHERE {SUMMARY.where}",
                        [summary, dialect.encode_list(new_topics), utcnow(), session_id,
                         version])
            self._event(con, "summary", summary_target(session_id, version), None,
                        session_id, "edit", {"summary": row[0], "topics": old_list},
                        {"summary": summary, "topics": new_topics}, actor)

    @staticmethod
    def _summary_state(con: Connection, session_id: str, version: int) -> tuple:
        row = con.execute(f"SELECT summary, topics, deleted_at FROM summaries "
                          f"WHERE {SUMMARY.where}", [session_id, version]).fetchone()
        if row is None:
            raise StoreError(SUMMARY.missing([session_id, version]))
        return row

    def delete_summary(self, session_id: str, version: int, actor: str) -> None:
        self._set_deleted(SUMMARY, [session_id, version], summary_target(session_id, version),
                          True, actor)

    def restore_summary(self, session_id: str, version: int, actor: str) -> None:
        self._set_deleted(SUMMARY, [session_id, version], summary_target(session_id, version),
                          False, actor)


def summary_target(session_id: str, version: int) -> str:
    """A summary version's ``target_id`` in ``memory_events``."""
    return f"{session_id}#{version}"


def summary_key(target_id: str) -> tuple[str, int]:
    """``summary_target``'s inverse."""
    session_id, _, version = target_id.rpartition("#")
    return session_id, int(version)
