"""The ``Store`` contract in parameterised SQL, shared by every engine.

The SQL is written once, with ``?`` placeholders; what an engine spells its own way
comes from its ``dialect``. The engine gives connections and transactions, the
recent-runs cache with its generation, and ``lock_session`` for engines where other
writers can run at the same time (DuckDB needs none: the file lock makes one writer
at a time).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ...types import Message, Run, RunContext, SessionInfo, utcnow
from ..base import DEFAULT_USER, Store, StoreError
from ..values import INT32_MAX, check_id, check_int, count_limit
from . import cells, contexts, owner
from .deferred import cached_runs, learn_next_seq
from .engine import Connection, Engine
from .ledger import LedgerSql
from .memories import MemorySummarySql, summary_key
from .migrations import DEFAULT_MEMORY_NAMESPACE, DEFAULT_SESSION_NAMESPACE
from .owner import not_yours
from .purge import PurgeSql, is_digest
from .rows import MESSAGE
from .run_cache import copied
from .run_rows import RUN_COLS, drop_shown_reply, insert_messages, insert_run
from .search import SearchSql
from .search_index import index_stamp
from .staged import delta_entry, failed_entry, recover, turn_entry
from .term_index import bump
from .transfer import TransferSql
from .views import PhidataViews, checked_view_name

_RUN_READ_COLS = RUN_COLS + ", cell_id, superseded_by"
_MSG_COLS = "message_id, role, content, name, tool_calls, tool_call_id, created_at"
_TABLES = ("sessions", "runs", "messages", "memories", "summaries", "memory_events",
           "schema_migrations", "model_calls",
           "request_parts", "run_contexts", "provenance")


def _message(row: tuple) -> Message:
    mid, role, content, name, tool_calls, tool_call_id, created_at = row
    return Message(
        message_id=mid, role=role, content=content, name=name,
        tool_calls=json.loads(tool_calls) if tool_calls else None,
        tool_call_id=tool_call_id, created_at=created_at,
    )


class SqlStore(PhidataViews, MemorySummarySql, TransferSql, SearchSql, LedgerSql, PurgeSql,
               Store):
    """Sessions, runs, messages, memories, summaries and events in SQL tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # phidata's table_name: which sessions and memories this store object sees.
        self.session_namespace = DEFAULT_SESSION_NAMESPACE
        self.memory_namespace = DEFAULT_MEMORY_NAMESPACE
        self._user_id = DEFAULT_USER  # who acts: every scoped statement checks it

    @property
    def user_id(self) -> str:
        return self._user_id

    def as_user(self, user_id: str | None) -> SqlStore:
        user_id = DEFAULT_USER if user_id is None else user_id
        check_id(user_id, "the user id")
        if user_id == self._user_id:
            return self
        view = copy.copy(self)
        view._user_id = user_id
        return view

    def scoped(self, sessions: str | None = None, memories: str | None = None) -> SqlStore:
        view = copy.copy(self)
        wanted = list(self.wanted_views)
        if sessions is not None:
            view.session_namespace = checked_view_name(sessions)
            wanted.append(("sessions", sessions))
        if memories is not None:
            view.memory_namespace = checked_view_name(memories)
            wanted.append(("memories", memories))
        view.wanted_views = tuple(wanted)
        return view

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path or ':memory:'!r}, user={self.user_id!r})"

    @property
    def path(self) -> str | None:
        """Where the data lives (a file path, or a URL without its password)."""
        return self.engine.path

    def batch(self) -> AbstractContextManager[object]:
        return self.engine.transaction()

    # --- sessions -------------------------------------------------------------
    def get_session(self, session_id: str) -> SessionInfo | None:
        with self._connection() as con:
            info = self._get_session(con, session_id)
        return None if info is None or not self._may_see(info.user_id) else info

    def _may_see(self, session_owner: str | None) -> bool:
        return session_owner is None or session_owner == self._user_id

    @staticmethod
    def _get_session(con: Connection, session_id: str) -> SessionInfo | None:
        keys = ["session_id", "user_id", "agent_name", "model", "created_at", "updated_at",
                "session_name"]
        row = con.execute(f"SELECT {', '.join(keys)} FROM sessions WHERE session_id = ?",
                          [session_id]).fetchone()
        if row is None:
            return None
        return SessionInfo(**dict(zip(keys, row)))

    def usable_session(self, session_id: str) -> SessionInfo | None:
        # A session belongs to the user who started it. One whose user_id is NULL
        # (stored without a user, before users were recorded) is nobody's: any user
        # may read it, and the first run with a user claims it (sql/owner.py).
        with self._connection() as con:
            info = self._get_session(con, session_id)
        if info is not None and not self._may_see(info.user_id):
            raise StoreError(not_yours(session_id))
        return info

    def save_session(self, session_id: str, agent_name: str | None = None,
                     session_name: str | None = None) -> None:
        check_id(session_id, "the session id")
        self._make_wanted_views()
        now = utcnow()
        with self._transaction() as con:
            self.engine.lock_session(con, session_id)
            updated = con.execute(
                "UPDATE sessions SET updated_at = ?, user_id = coalesce(user_id, ?), "
                "agent_name = coalesce(?, agent_name), "
                "session_name = coalesce(?, session_name) WHERE session_id = ? "
                "AND (user_id = ? OR user_id IS NULL) RETURNING session_id",
                [now, self._user_id, agent_name, session_name, session_id,
                 self._user_id]).fetchone()
            if updated is None:
                inserted = con.execute(
                    "INSERT INTO sessions (session_id, user_id, agent_name, model, "
                    "created_at, updated_at, session_name, namespace) "
                    "VALUES (?, ?, ?, NULL, ?, ?, ?, ?) ON CONFLICT DO NOTHING "
                    "RETURNING session_id",
                    [session_id, self._user_id, agent_name, now, now, session_name,
                     self.session_namespace]).fetchone()
                if inserted is None:  # it exists, and is another user's: nothing changed
                    raise StoreError(not_yours(session_id))

    def delete_session(self, session_id: str, actor: str = "user") -> bool:
        owner_row = self.get_session(session_id)
        if (owner_row is not None and owner_row.user_id is not None
                and not self.engine.in_transaction):
            with self._connection() as con:
                self.search_index().before_removal(con, owner_row.user_id)
        with self._transaction() as con:
            self.engine.lock_session(con, session_id)
            row = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                              [session_id]).fetchone()
            if row is not None and not self._may_see(row[0]):
                raise StoreError(not_yours(session_id))  # nothing deleted
            counts = {}
            # Its texts leave the search index as a purge's do (sql/search_index.py).
            docs = con.execute("SELECT doc_id, kind, run_id FROM search_docs "
                               "WHERE session_id = ? AND kind = 'summaries' UNION ALL "
                               "SELECT message_id, 'messages', run_id FROM messages "
                               "WHERE session_id = ?",  # (those of numbered runs: no rows)
                               [session_id, session_id]).fetchall()
            con.execute("DELETE FROM search_docs WHERE session_id = ? "
                        "AND kind <> 'memories'", [session_id])
            if row is not None and row[0] is not None:
                bump(con, row[0], epoch=True)
                self.search_index().snapshots.delete_user(con, row[0])
            for table in ("messages", "runs", "summaries"):  # our constants
                (counts[table],) = con.execute(
                    f"SELECT count(*) FROM {table} WHERE session_id = ?", [session_id]).fetchone()
                con.execute(f"DELETE FROM {table} WHERE session_id = ?", [session_id])
            con.execute("DELETE FROM sessions WHERE session_id = ?", [session_id])
            if row is not None:
                self._event(con, "session", session_id, row[0] or self._user_id, session_id,
                            "delete", counts, None, actor)
            self.engine.recent_runs.clear()
        if row is not None and row[0] is not None and docs:
            with self._connection() as con:
                self.search_index().after_removal(
                    con, row[0], [d[0] for d in docs if d[1] == "messages"],
                    list({d[2] for d in docs if d[2] is not None}), [],
                    [d[0] for d in docs if d[1] == "summaries"])
        return row is not None

    def list_sessions(self) -> list[dict[str, Any]]:
        greatest = self.engine.dialect.greatest
        mine = "AND (s.user_id = ? OR s.user_id IS NULL)"
        sql = f"""
            SELECT s.session_id, s.user_id, s.agent_name, s.model,
                   coalesce(r.runs, 0) AS runs, coalesce(m.messages, 0) AS messages,
                   s.created_at, {greatest}(s.updated_at, coalesce(r.last_run_at, s.updated_at))
                       AS updated_at, s.session_name
            FROM sessions s
            LEFT JOIN (SELECT session_id, count(*) FILTER (WHERE status = 'ok') AS runs,
                              max(created_at) AS last_run_at
                       FROM runs GROUP BY session_id) r USING (session_id)
            LEFT JOIN (SELECT session_id, count(*) AS messages FROM messages
                       WHERE deleted_at IS NULL GROUP BY session_id) m USING (session_id)
            WHERE s.namespace = ? {mine}
            ORDER BY updated_at DESC"""
        return self._dicts(sql, [self.session_namespace, self._user_id])

    # --- runs and messages ----------------------------------------------------
    def stage_run(self, run: Run) -> None:
        check_id(run.session_id, "the session id")
        journal = self.engine.journal
        if journal is not None:  # None: an in-memory database, nothing outlives us
            try:
                journal.add(turn_entry(run, self._user_id))
            except OSError:  # (a read-only or foreign folder) the turn goes on unprotected
                pass

    def stage_delta(self, run: Run, delta: str) -> None:
        journal = self.engine.journal
        if journal is not None:
            try:
                journal.note(delta_entry(run, delta))
            except OSError:  # (the file cannot be written) the turn goes on unprotected
                pass

    def append_run(self, run: Run) -> int:
        check_id(run.session_id, "the session id")
        user_id = self._user_id
        journal = self.engine.journal
        staged = journal is not None and run.run_id in journal.in_flight
        stored = False
        try:
            for what, count in (("input_tokens", run.input_tokens),
                                ("output_tokens", run.output_tokens)):
                if count is not None:
                    check_int(count, f"the run's {what}", 0, INT32_MAX)
            self._make_wanted_views()
            deferred = self.engine.deferred
            later = deferred.add(run, user_id) if deferred is not None else None
            if later is not None:  # committed by the engine's thread (sql/deferred.py)
                staged = False  # its thread ends the turn in the file of turns in flight
                return later
            try:
                seq = self._append(run, user_id)
            except Exception:
                # Taken for dead by another process (kept as interrupted) meanwhile?
                if not staged or not self._completes_interrupted(run, user_id):
                    raise
                assert run.seq is not None
                seq = run.seq
            stored = True
            return seq
        finally:
            if staged:
                # Not stored: kept in this process, to be stored as interrupted.
                journal.done(run.run_id, None if stored else failed_entry(run, user_id))

    def _append(self, run: Run, user_id: str | None) -> int:
        now = utcnow()
        cache = self.engine.recent_runs
        # Held around the transaction so the cache update below happens under the same
        # hold (same generation, no other thread in between) and only after COMMIT.
        with self._connection():
            # Inside a caller's transaction this run may still be rolled back: then the
            # cache must not hold it, so it is dropped instead of updated.
            nested = self.engine.in_transaction
            after_commit = None
            with self._transaction("runs") as con:
                self.engine.lock_session(con, run.session_id)
                # Read once, under the write lock: the cache is updated below with the
                # generation the seq was taken at. Read again after COMMIT it could be a
                # newer one (SQLite: another process committed meanwhile) and mark a cache
                # that lacks that process's run as fresh (a duplicate seq, seen in 4x50).
                generation = self.engine.generation
                seq = cache.next_seq(generation, run.session_id)
                if seq is not None and cache.owner(generation, run.session_id) != user_id:
                    seq = None  # the owner is checked (or claimed) below
                if seq is None:
                    # The session's row is touched once per hold of the file, not every
                    # turn (~0.6 ms): list_sessions takes the latest activity from runs.
                    # UPDATE, then INSERT only for a new session: an ON CONFLICT upsert
                    # costs ~1 ms more in DuckDB.
                    updated = con.execute(
                        "UPDATE sessions SET updated_at = ?, model = coalesce(?, model), "
                        "user_id = coalesce(user_id, ?) WHERE session_id = ? "
                        "RETURNING user_id",
                        [now, run.model, user_id, run.session_id]).fetchone()
                    if updated is not None and updated[0] != user_id:
                        raise StoreError(not_yours(run.session_id))  # rolls back
                    if updated is None and con.execute(
                            "INSERT INTO sessions (session_id, user_id, agent_name, "
                            "model, created_at, updated_at, namespace) "
                            "VALUES (?, ?, NULL, ?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING RETURNING session_id",
                            [run.session_id, user_id, run.model, now, now,
                             self.session_namespace]).fetchone() is None:
                        # Another writer made it meanwhile: whose is it?
                        (taken,) = con.execute(
                            "SELECT user_id FROM sessions WHERE session_id = ?",
                            [run.session_id]).fetchone()
                        if not self._may_see(taken):
                            raise StoreError(not_yours(run.session_id))  # rolls back
                    if not nested:  # runs a dead process left half-made come first
                        after_commit = recover(con, self.engine)
                    (seq,) = con.execute(
                        "SELECT coalesce(max(seq), -1) + 1 FROM runs WHERE session_id = ?",
                        [run.session_id]).fetchone()
                written = insert_run(con, run, seq, user_id, self.engine.lock_session)
                run.seq = seq
                if run.context is not None:  # as read back: the context knows its session
                    run.context.session_id = run.session_id
            if after_commit is not None:
                after_commit()  # the files of turns in flight it emptied go
            stamp = index_stamp(self.engine)  # right after the COMMIT, still held
            if nested or written.superseded:
                cache.clear()
            else:
                cache.appended(generation, run, user_id)
        # Committed: this process's index learns it. Not when turns of a dead process were
        # kept in the same COMMIT: the index would take this run as all it wrote (they
        # are read back at the next search).
        kept = after_commit.kept if after_commit is not None else []
        if not nested and user_id is not None and not kept:
            self.search_index().wrote(user_id, written.revs.get(user_id), [
                (m.message_id, "messages", run.session_id, run.run_id, m.role, m.content)
                for m in run.messages if m.content], stamp, appended=written.appended)
        return seq

    def _completes_interrupted(self, run: Run, user_id: str | None) -> bool:
        """Complete ``run`` if another process kept it as interrupted (it took this
        process for dead); False when it is not stored so."""
        with self._transaction() as con:
            self.engine.lock_session(con, run.session_id)
            # Only the writer's own run (kept by another process), never another user's.
            found = con.execute("SELECT seq FROM runs WHERE run_id = ? AND status = ? "
                                "AND user_id = ? AND " + owner.sessions_of("runs.session_id"),
                                [run.run_id, "interrupted", user_id, user_id]).fetchone()
            if found is None:
                return False
            con.execute("UPDATE runs SET status = ?, model = ?, input_tokens = ?, "
                        "output_tokens = ?, latency_ms = ?, error = ? WHERE run_id = ?",
                        [run.status, run.model, run.input_tokens, run.output_tokens,
                         run.latency_ms, run.error, run.run_id])
            drop_shown_reply(con, run.run_id)
            insert_messages(con, run, user_id, 1, indexed=1)  # kept: indexed then
            contexts.write(con, run, self.engine.lock_session)
            cells.record(con, run)
            run.seq = found[0]
        self.engine.recent_runs.clear()
        return True

    def _run_query(self, where: str, params: list[Any], limit: int | None,
                   newest: bool) -> list[Run]:
        # The MATERIALIZED CTE makes DuckDB use the session_id index (~2 ms at 1M rows
        # instead of 8-10 ms for a plain ORDER BY ... LIMIT). The messages of the picked
        # runs come in a second, simple query: ~1 ms less than joining them in.
        order = "DESC" if newest else "ASC"
        lim = "LIMIT ?" if limit is not None else ""
        dialect = self.engine.dialect
        runs_sql = f"""
            WITH r AS {dialect.materialized} (SELECT {_RUN_READ_COLS} FROM runs
                                              WHERE session_id = ? AND {owner.SESSION})
            SELECT * FROM r WHERE {where} ORDER BY seq {order} {lim}"""
        session_id = params[0]
        args = [session_id, session_id, self._user_id, *params[1:],
                *([limit] if limit is not None else [])]
        with self._connection() as con:
            run_rows = con.execute(runs_sql, args).fetchall()
            if not run_rows:
                return []
            ids = [row[0] for row in run_rows]
            msg_rows = con.execute(
                f"SELECT run_id, seq, {_MSG_COLS} FROM messages "
                f"WHERE session_id = ? AND {dialect.run_id_in_list} AND deleted_at IS NULL "
                "ORDER BY seq",  # a deleted message is never sent to the model again
                [session_id, dialect.encode_id_list(ids)]).fetchall()
        keys = [c.strip() for c in _RUN_READ_COLS.split(",")]
        runs = {row[0]: Run(**dict(zip(keys, row, strict=True))) for row in run_rows}
        for row in msg_rows:
            runs[row[0]].messages.append(_message(row[2:]))
        return sorted(runs.values(), key=lambda r: r.seq)

    def recent_runs(self, session_id: str, n: int) -> list[Run]:
        n = count_limit(n, "the number of history runs")
        if n == 0:
            return []
        # Not waiting for a commit; the session known to be the acting user's.
        cached = cached_runs(self.engine, session_id, n, self._user_id)
        if cached is not None:
            return cached
        with self._connection() as con:  # holding the file: the generation cannot change
            cache = self.engine.recent_runs
            # Read before the query (SQLite: a commit in between makes it stale, never
            # the other way round).
            generation = self.engine.generation
            cached = (cache.recent(generation, session_id, n)
                      if cache.owner(generation, session_id) == self._user_id else None)
            if cached is not None:
                return [copied(run) for run in cached]
            runs = self._run_query(cells.LIVE, [session_id], n, newest=True)
            if not runs:
                # Nothing may mean another user's session (it reads as absent): then the
                # cache, shared by every user of this engine, must not learn "no runs"
                # (its owner's next history would come back empty).
                info = self._get_session(con, session_id)
                if info is not None and not self._may_see(info.user_id):
                    return []
            cache.fill(generation, session_id, runs, asked=n)
            if self.engine.deferred is not None:  # this turn's run can be queued
                learn_next_seq(con, self.engine, generation, session_id)
            return runs

    def runs_after(self, session_id: str, after_seq: int, limit: int | None = None) -> list[Run]:
        limit = None if limit is None else count_limit(limit, "limit")
        return self._run_query(cells.LIVE + " AND seq > ?", [session_id, after_seq], limit,
                               newest=False)

    def session_runs(self, session_id: str) -> list[Run]:
        return self._run_query("true", [session_id], None, newest=False)

    def run_context(self, run_id: str) -> RunContext | None:
        with self._connection() as con:
            found = con.execute(
                "SELECT 1 FROM runs WHERE run_id = ? AND "
                + owner.sessions_of("runs.session_id"),
                [run_id, self._user_id]).fetchone()
            return contexts.read(con, run_id) if found is not None else None

    def settle_runs(self, besides: str | None = None) -> None:
        # The search index and user_runs read beside the commit of the queued runs
        # (DuckDbEngine.reading): a run of another session, or of a prompt without
        # history, was not recalled by a turn that came before its commit (Run All:
        # tests/test_review_turn_reads.py). The connection commits the queue first.
        deferred = self.engine.deferred
        if deferred is not None and deferred.unsettled_sessions() - {besides}:
            with self._connection():
                pass

    def user_runs(self, run_ids: Sequence[str], limit: int | None = None,
                  skip_cell: tuple[str, str] | None = None) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids or (limit is not None and limit <= 0):
            return []
        user_id = self._user_id
        marks = ", ".join("?" for _ in ids)
        # The owner is checked here again, in SQL, whatever the caller found the ids by:
        # a run of another user's session (or of one nobody owns) never comes back.
        # Runs and their sessions are read by key, in two queries: joined, DuckDB scanned
        # the sessions (issue 16's EXPLAIN ANALYZE at 1M messages).
        keys = [c.strip() for c in _RUN_READ_COLS.split(",")]
        engine, namespace = self.engine, self.session_namespace
        # Runs found by the search index, which learns a queued run once it is committed:
        # read beside the commit of the last turn's run, not after it.
        with self._reading() as con:
            stamp = engine.cache_stamp("sessions")  # read before the rows
            found = con.execute(
                f"SELECT {_RUN_READ_COLS} FROM runs WHERE run_id IN ({marks}) "
                "AND status = 'ok' AND superseded_by IS NULL", ids).fetchall()
            known = engine.row_cache.owned(stamp, user_id, namespace) if stamp else set()
            sessions = list({row[1] for row in found} - known)
            mine = {r[0] for r in con.execute(
                f"SELECT session_id FROM sessions WHERE session_id IN "
                f"({', '.join('?' for _ in sessions)}) AND user_id = ? AND namespace = ?",
                [*sessions, user_id, namespace]).fetchall()} if sessions else set()
            if stamp and mine:
                engine.row_cache.keep_owned(stamp, user_id, namespace, mine)
            mine |= known
            live = {row[0]: Run(**dict(zip(keys, row, strict=True))) for row in found
                    if row[1] in mine}
            runs = {run_id: live[run_id] for run_id in ids if run_id in live and not (
                skip_cell and (live[run_id].session_id, live[run_id].cell_id) == skip_cell)}
            if limit is not None:  # the messages of those only (~0.25 ms a run on DuckDB)
                runs = dict(list(runs.items())[:limit])
            if not runs:
                return []
            # By the run_id index (m008); a plain IN list of parameters is what DuckDB
            # looks up in an index (a list parameter is a full scan).
            msg_rows = con.execute(
                f"SELECT run_id, seq, {_MSG_COLS} FROM messages "
                f"WHERE run_id IN ({', '.join('?' for _ in runs)}) AND deleted_at IS NULL "
                "ORDER BY run_id, seq", list(runs)).fetchall()
        for row in msg_rows:
            runs[row[0]].messages.append(_message(row[2:]))
        return list(runs.values())

    def last_run_id(self, session_id: str) -> str | None:
        rows = self._dicts(f"SELECT run_id FROM runs WHERE session_id = ? AND {owner.SESSION} "
                           "ORDER BY seq DESC LIMIT 1", [session_id, session_id, self._user_id])
        return rows[0]["run_id"] if rows else None

    def count_runs(self, session_id: str) -> int:
        return self._scalar(f"SELECT count(*) FROM runs WHERE session_id = ? AND {cells.LIVE} "
                            f"AND {owner.SESSION}", [session_id, session_id, self._user_id])

    def message_rows(self, session_id: str, offset: int = 0, limit: int | None = None,
                     include_deleted: bool = False,
                     include_superseded: bool = True) -> list[dict[str, Any]]:
        live = "" if include_deleted else "AND deleted_at IS NULL"
        current = "" if include_superseded else "AND superseded_by IS NULL"
        materialized = self.engine.dialect.materialized
        sql = f"""
            WITH m AS {materialized} (SELECT * FROM messages WHERE session_id = ? {live}
                                      AND {owner.SESSION}),
                 r AS {materialized} (SELECT run_id, seq AS run_seq,
                                           {cells.SHOWN_STATUS} AS status FROM runs
                                    WHERE session_id = ? {current})
            SELECT m.message_id, r.run_seq, m.seq, m.role, m.content, r.status,
                   m.name, m.tool_calls, m.tool_call_id, m.run_id, m.created_at, m.edited_at,
                   m.deleted_at
            FROM m JOIN r USING (run_id)
            ORDER BY r.run_seq, m.seq
            LIMIT ? OFFSET ?"""
        limit = INT32_MAX if limit is None else count_limit(limit, "limit")
        return self._dicts(sql, [session_id, session_id, self._user_id, session_id, limit,
                                 count_limit(offset, "offset")])

    def count_messages(self, session_id: str, include_deleted: bool = False,
                       include_superseded: bool = True) -> int:
        live = "" if include_deleted else "AND deleted_at IS NULL"
        current = "" if include_superseded else (
            "AND run_id NOT IN (SELECT run_id FROM runs WHERE session_id = ? "
            "AND superseded_by IS NOT NULL)")
        return self._scalar(f"SELECT count(*) FROM messages WHERE session_id = ? {live} "
                            f"{current} AND {owner.SESSION}",
                            [session_id] + ([] if include_superseded else [session_id])
                            + [session_id, self._user_id])

    def get_message(self, message_id: str) -> dict[str, Any] | None:
        rows = self._dicts(f"SELECT * FROM messages WHERE message_id = ? "
                           f"AND {owner.sessions_of('messages.session_id')}",
                           [message_id, self._user_id])
        return rows[0] if rows else None

    def edit_message(self, message_id: str, content: str, actor: str = "user",
                     expected: dict[str, Any] | None = None) -> None:
        self._edit(MESSAGE, [message_id, self._user_id], message_id, {"content": content},
                   actor, expected)

    def delete_message(self, message_id: str, actor: str = "user") -> None:
        self._set_deleted(MESSAGE, [message_id, self._user_id], message_id, True, actor)

    def restore_message(self, message_id: str, actor: str = "user") -> None:
        self._set_deleted(MESSAGE, [message_id, self._user_id], message_id, False, actor)

    # --- events ---------------------------------------------------------------
    def events(self, target_id: str | None = None) -> list[dict[str, Any]]:
        return self._dicts(
            "SELECT * FROM memory_events WHERE (? IS NULL OR target_id = ?) "
            f"AND {_EVENT_MINE} ORDER BY created_at, event_id",
            [target_id, target_id, self._user_id, self._user_id])

    def undo_event(self, event_id: str, actor: str = "user") -> None:
        rows = self._dicts(f"SELECT * FROM memory_events WHERE event_id = ? AND {_EVENT_MINE}",
                           [event_id, self._user_id, self._user_id])
        if not rows:
            raise StoreError(f"event {event_id} does not exist for user {self._user_id!r}")
        event = rows[0]
        old = json.loads(event["old"]) if event["old"] else None
        undo = _UNDO.get((event["target"], event["action"]))
        new = json.loads(event["new"]) if event["new"] else None
        if is_digest(old) or is_digest(new):  # purged: only a sha256 of the value is left
            raise StoreError(f"a {event['target']} {event['action']} of purged text cannot "
                             "be undone")
        if undo is None:
            raise StoreError(f"a {event['target']} {event['action']} cannot be undone")
        with self._transaction():
            undo(self, event, old, actor)

    # --- raw tables -----------------------------------------------------------
    def export_all(self) -> dict[str, list[dict[str, Any]]]:
        return self._export("all", [])

    def import_all(self, rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        return self._import(rows, owner_check=False)

    def table_rows(self, table: str) -> list[dict[str, Any]]:
        if table not in _TABLES:  # a table name cannot be a parameter: check it instead
            raise StoreError(f"unknown table {table!r}; tables: {', '.join(_TABLES)}")
        return self._dicts(f"SELECT * FROM {table}", [])

    def close(self) -> None:
        self.engine.close()


# An event is the acting user's when it names them (memories, sessions), or is of a
# session they may see (messages and summaries record no user). Two parameters: the user.
_EVENT_MINE = ("(user_id = ? OR (user_id IS NULL AND session_id IS NOT NULL AND "
               f"{owner.sessions_of('memory_events.session_id')}))")


# How to put back what an event changed: (target, action) -> function.
_UNDO = {
    ("memory", "add"): lambda s, e, old, a: s.delete_memory(e["target_id"], a),
    ("memory", "update"): lambda s, e, old, a: s.update_memory(
        e["target_id"], old["memory"], old.get("topics"), a),
    ("memory", "delete"): lambda s, e, old, a: s.restore_memory(e["target_id"], a),
    ("memory", "restore"): lambda s, e, old, a: s.delete_memory(e["target_id"], a),
    ("message", "edit"): lambda s, e, old, a: s.edit_message(e["target_id"], old["content"], a),
    ("message", "delete"): lambda s, e, old, a: s.restore_message(e["target_id"], a),
    ("message", "restore"): lambda s, e, old, a: s.delete_message(e["target_id"], a),
    ("summary", "edit"): lambda s, e, old, a: s.edit_summary(
        *summary_key(e["target_id"]), old["summary"], old.get("topics"), a),
    ("summary", "delete"): lambda s, e, old, a: s.restore_summary(
        *summary_key(e["target_id"]), a),
    ("summary", "restore"): lambda s, e, old, a: s.delete_summary(
        *summary_key(e["target_id"]), a),
}
