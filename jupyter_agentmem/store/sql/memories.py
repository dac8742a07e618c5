"""The memories and summaries half of the shared SQL (a mixin of ``SqlStore``).

Split from ``sql/store.py`` to keep each file small; the same ``?`` SQL runs on every
engine. Soft deletes set ``deleted_at``; every change writes a ``memory_events`` row
so it can be undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from ...types import Memory, Run, SessionSummary, utcnow
from ..base import StoreError
from ..values import check_id
from . import owner, provenance
from .rows import MEMORY, SUMMARY, SqlRows
from .search_index import index_stamp
from .term_index import index_docs

_MEMORY_COLS = (
    "memory_id, user_id, memory, topics, input, session_id, created_at, updated_at, deleted_at"
)
_SUMMARY_COLS = "session_id, version, summary, topics, through_run_seq, created_at"


class LiveMemories(NamedTuple):
    """A user's live memories as rows (``_MEMORY_COLS``): newest first, and by id."""

    recent: list[tuple]
    by_id: dict[str, tuple]


class MemorySummarySql(SqlRows):
    """User memories and session summary versions, in SQL tables."""

    memory_namespace: str  # phidata's memory table_name this store object sees
    session_namespace: str  # phidata's session table_name this store object sees
    _user_id: str  # the acting user (SqlStore.as_user)
    search_index: Any  # the search side's in-memory indexes (a method of sql/search.py)

    def _make_wanted_views(self) -> None:
        """The views of this store's table names (sql/views.py), before a write."""

    # --- memories -------------------------------------------------------------
    def user_memories(self, include_deleted: bool = False) -> list[Memory]:
        user_id = self._user_id
        live = "" if include_deleted else "AND deleted_at IS NULL"
        with self._connection() as con:
            rows = con.execute(
                f"SELECT {_MEMORY_COLS} FROM memories WHERE user_id = ? AND namespace = ? "
                f"{live} ORDER BY created_at, memory_id",
                [user_id, self.memory_namespace]).fetchall()
        keys = [c.strip() for c in _MEMORY_COLS.split(",")]
        topics = self.engine.dialect.decode_list
        return [Memory(**{**dict(zip(keys, r)), "topics": topics(r[3])}) for r in rows]

    def memories_by_relevance(self, ranked_ids: list[str], newest: int,
                              limit: int) -> list[Memory]:
        rows = self._live_memory_rows()
        if len(rows.recent) <= limit:
            chosen = list(rows.recent)
        else:
            wanted = dict.fromkeys([r[0] for r in rows.recent[:newest]] + list(ranked_ids))
            chosen = [rows.by_id[i] for i in wanted if i in rows.by_id][:limit]
        chosen.sort(key=lambda r: (r[6], r[0]))  # oldest first: created_at, memory_id
        keys = [c.strip() for c in _MEMORY_COLS.split(",")]
        topics = self.engine.dialect.decode_list
        return [Memory(**{**dict(zip(keys, r)), "topics": topics(r[3])}) for r in chosen]

    def _live_memory_rows(self) -> LiveMemories:
        """The acting user's live memories of this namespace as rows, newest first: from
        the row cache while nothing can have changed them (sql/row_cache.py: one
        DuckDB statement was ~2-4 ms of every turn), else read in one statement."""
        engine, user_id, namespace = self.engine, self._user_id, self.memory_namespace
        stamp = engine.cache_stamp("memories")
        found = engine.row_cache.memories(stamp, user_id, namespace) if stamp else None
        if found is not None:
            return found
        with self._reading() as con:
            stamp = engine.cache_stamp("memories")  # read before the rows
            rows = con.execute(
                f"SELECT {_MEMORY_COLS} FROM memories WHERE user_id = ? AND namespace = ? "
                "AND deleted_at IS NULL ORDER BY updated_at DESC, memory_id",
                [user_id, namespace]).fetchall()
        found = LiveMemories(rows, {r[0]: r for r in rows})
        if stamp is not None:
            engine.row_cache.keep_memories(stamp, user_id, namespace, found)
        return found

    def get_memory(self, memory_id: str) -> Memory | None:
        with self._connection() as con:
            rows = con.execute(
                f"SELECT {_MEMORY_COLS} FROM memories WHERE memory_id = ? AND user_id = ? "
                "AND namespace = ?", [memory_id, self._user_id, self.memory_namespace]
            ).fetchall()
        keys = [c.strip() for c in _MEMORY_COLS.split(",")]
        topics = self.engine.dialect.decode_list
        return next((Memory(**{**dict(zip(keys, r)), "topics": topics(r[3])}) for r in rows),
                    None)

    def add_memory(self, memory: Memory, actor: str = "model",
                   runs: Sequence[Run] = ()) -> Memory:
        check_id(memory.user_id, "the user id")
        if memory.user_id != self._user_id:
            raise StoreError(f"a memory of user {memory.user_id!r} cannot be added by user "
                             f"{self._user_id!r}")
        self._make_wanted_views()
        with self._connection():
            nested = self.engine.in_transaction
            with self._transaction("memories") as con:
                taken = con.execute("SELECT user_id FROM memories WHERE memory_id = ?",
                                    [memory.memory_id]).fetchone()
                if taken is not None:  # never overwrite, nor tell whose it is
                    raise StoreError(f"memory id {memory.memory_id} is taken: use a new id")
                if memory.session_id is not None and con.execute(
                        f"SELECT 1 WHERE NOT ({owner.SESSION})",
                        [memory.session_id, self._user_id]).fetchone() is not None:
                    # Her session's export carries the memories naming it.
                    raise StoreError(owner.not_yours(memory.session_id))
                provenance.record(con, provenance.MEMORY, memory.memory_id, runs,
                                  memory.user_id)
                con.execute(
                    f"INSERT INTO memories ({_MEMORY_COLS}, namespace) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                    [memory.memory_id, memory.user_id, memory.memory,
                     self.engine.dialect.encode_list(memory.topics), memory.input,
                     memory.session_id, memory.created_at, memory.updated_at,
                     self.memory_namespace])
                revs = index_docs(con, [(memory.memory_id, "memories", memory.session_id,
                                         memory.user_id, None, None, memory.memory)])
                self._event(con, "memory", memory.memory_id, memory.user_id,
                            memory.session_id, "add", None,
                            {"memory": memory.memory, "topics": memory.topics}, actor)
            stamp = index_stamp(self.engine)  # right after the COMMIT, still held
        if not nested:  # committed: this process's index learns it
            self.search_index().wrote(memory.user_id, revs[memory.user_id], [
                (memory.memory_id, "memories", memory.session_id, None, None,
                 memory.memory)], stamp)
        return memory

    def update_memory(self, memory_id: str, memory: str | None,
                      topics: list[str] | None, actor: str,
                      expected: dict[str, Any] | None = None,
                      runs: Sequence[Run] = ()) -> Memory:
        user_id = self._user_id
        with self._transaction() as con:  # the edit and where it came from, together
            provenance.record(con, provenance.MEMORY, memory_id, runs, user_id)
            self._edit(MEMORY, [memory_id, user_id], memory_id,
                       text_and_topics("memory", memory, topics), actor, expected)
        found = self.get_memory(memory_id)
        if found is None:  # deleted for good by another writer in between
            raise StoreError(MEMORY.missing([memory_id, user_id]))
        return found

    def delete_memory(self, memory_id: str, actor: str) -> None:
        self._set_deleted(MEMORY, [memory_id, self._user_id], memory_id, True, actor)

    def restore_memory(self, memory_id: str, actor: str) -> None:
        self._set_deleted(MEMORY, [memory_id, self._user_id], memory_id, False, actor)

    def delete_user_memories(self, actor: str) -> int:
        with self._transaction() as con:
            ids = [r[0] for r in con.execute(
                "SELECT memory_id FROM memories WHERE user_id = ? AND namespace = ? "
                "AND deleted_at IS NULL", [self._user_id, self.memory_namespace]).fetchall()]
            for memory_id in ids:
                self.delete_memory(memory_id, actor)
        return len(ids)

    # --- summaries ------------------------------------------------------------
    def _summaries(self, where: str, params: list[Any]) -> list[SessionSummary]:
        with self._reading() as con:  # (no queued run changes a summary)
            rows = con.execute(f"SELECT {_SUMMARY_COLS}, deleted_at FROM summaries "
                               f"WHERE {where} ORDER BY version", params).fetchall()
        keys = [*(c.strip() for c in _SUMMARY_COLS.split(",")), "deleted_at"]
        topics = self.engine.dialect.decode_list
        return [SessionSummary(**{**dict(zip(keys, r)), "topics": topics(r[3])}) for r in rows]

    def latest_summary(self, session_id: str) -> SessionSummary | None:
        # Kept in the row cache for a session known to be the acting user's (its owner
        # never changes once set): every turn with summaries on reads it (~2-3 ms on
        # DuckDB at 100k messages).
        engine, user_id = self.engine, self._user_id
        stamp = engine.cache_stamp("summaries")
        mine = stamp is not None and engine.recent_runs.owner(stamp[0], session_id) == user_id
        if mine:
            kept, found = engine.row_cache.summary(stamp, user_id, session_id)
            if kept:
                return found.model_copy() if found is not None else None
        with self._reading():
            stamp = engine.cache_stamp("summaries")  # read before the rows
            # A deleted version is skipped: the newest live one is what the model gets
            # (and what the next incremental summary builds on).
            rows = self._summaries(
                "session_id = ? AND version = (SELECT max(version) FROM summaries "
                f"WHERE session_id = ? AND deleted_at IS NULL) AND {owner.SESSION}",
                [session_id, session_id, session_id, user_id])
        latest = rows[0] if rows else None
        if mine and stamp is not None:
            engine.row_cache.keep_summary(stamp, user_id, session_id, latest)
        return latest.model_copy() if latest is not None else None

    def list_summaries(self, session_id: str,
                       include_deleted: bool = False) -> list[SessionSummary]:
        live = "" if include_deleted else " AND deleted_at IS NULL"
        return self._summaries(f"session_id = ? AND {owner.SESSION}" + live,
                               [session_id, session_id, self._user_id])

    def add_summary(self, summary: SessionSummary, actor: str = "model",
                    runs: Sequence[Run] = (), based_on: int | None = None) -> SessionSummary:
        check_id(summary.session_id, "the session id")
        with self._connection():
            nested = self.engine.in_transaction
            stored, doc, revs = self._add_summary(summary, actor, runs, based_on)
            stamp = index_stamp(self.engine)  # right after the COMMIT, still held
        if not nested and doc[3] in revs:  # committed: this process's index learns it
            # (else the owner's loaded partitions, a revision behind, read SQL again)
            self.search_index().wrote(doc[3], revs[doc[3]], [
                (doc[0], "summaries", doc[2], None, None, doc[6])], stamp)
        return stored

    def _add_summary(self, summary: SessionSummary, actor: str, runs: Sequence[Run],
                     based_on: int | None) -> tuple[SessionSummary, tuple, dict]:
        with self._transaction("summaries") as con:
            self.engine.lock_session(con, summary.session_id)
            owned = con.execute(
                "SELECT user_id FROM sessions WHERE session_id = ?",
                [summary.session_id]).fetchone()
            if owned is None:  # a summary before any run: the session is the user's
                now = utcnow()
                con.execute("INSERT INTO sessions (session_id, user_id, created_at, "
                            "updated_at, namespace) VALUES (?, ?, ?, ?, ?)",
                            [summary.session_id, self._user_id, now, now,
                             self.session_namespace])
                owned = (self._user_id,)
            elif owned[0] not in (None, self._user_id):
                raise StoreError(owner.not_yours(summary.session_id))
            (version,) = con.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM summaries WHERE session_id = ?",
                [summary.session_id]).fetchone()
            stored = summary.model_copy(update={"version": version})
            con.execute(
                f"INSERT INTO summaries ({_SUMMARY_COLS}, based_on) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [stored.session_id, version, stored.summary,
                 self.engine.dialect.encode_list(stored.topics), stored.through_run_seq,
                 stored.created_at, based_on])
            provenance.record(con, provenance.SUMMARY,
                              summary_target(stored.session_id, version), runs, owned[0])
            doc = (summary_target(stored.session_id, version), "summaries", stored.session_id,
                   owned[0], None, None, stored.summary)
            revs = index_docs(con, [doc])
            self._event(con, "summary", summary_target(stored.session_id, version), None,
                        stored.session_id, "add", None,
                        {"summary": stored.summary, "topics": stored.topics}, actor)
        return stored, doc, revs

    def edit_summary(self, session_id: str, version: int, summary: str | None,
                     topics: list[str] | None, actor: str,
                     expected: dict[str, Any] | None = None) -> None:
        self._edit(SUMMARY, [session_id, version, self._user_id],
                   summary_target(session_id, version),
                   text_and_topics("summary", summary, topics), actor, expected)

    def delete_summary(self, session_id: str, version: int, actor: str) -> None:
        self._set_deleted(SUMMARY, [session_id, version, self._user_id],
                          summary_target(session_id, version), True, actor)

    def restore_summary(self, session_id: str, version: int, actor: str) -> None:
        self._set_deleted(SUMMARY, [session_id, version, self._user_id],
                          summary_target(session_id, version), False, actor)


def summary_target(session_id: str, version: int) -> str:
    """A summary version's ``target_id`` in ``memory_events``."""
    return f"{session_id}#{version}"


def summary_key(target_id: str) -> tuple[str, int]:
    """``summary_target``'s inverse."""
    session_id, _, version = target_id.rpartition("#")
    return session_id, int(version)


def text_and_topics(column: str, text: str | None,
                    topics: list[str] | None) -> dict[str, Any]:
    """The columns an edit of a text and/or its topics changes (``None``: kept)."""
    changes: dict[str, Any] = {} if text is None else {column: text}
    if topics is not None:
        changes["topics"] = list(topics)
    if not changes:
        raise StoreError(f"nothing to change: give the {column}, its topics, or both")
    return changes
