"""phidata's ``table_name`` as read-only views in phidata's row shape (shared SQL).

``SqlAgentStorage(table_name="agent_sessions")`` makes a view ``agent_sessions`` over
the sessions of that table name (``sessions.namespace``): ``session_id, agent_id,
user_id, memory`` (JSON: the runs with their messages, all messages, the summary),
``agent_data, user_data, session_data, created_at, updated_at`` (epoch seconds), so
``SELECT * FROM agent_sessions`` in sqlite3, duckdb or psql shows what phidata's docs
describe. A memory db's ``table_name`` makes a view ``id, user_id, memory`` (JSON:
memory, input, topic), ``created_at, updated_at``. The name is validated (a plain
identifier, none of our own tables) before it reaches SQL.
"""

from __future__ import annotations

import logging
import re

from ..base import StoreError
from .rows import SqlRows

_VIEW_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
log = logging.getLogger(__name__)
OWN_TABLES = ("sessions", "runs", "messages", "memories", "summaries", "memory_events",
              "schema_migrations", "search_docs", "search_terms", "model_calls",
              "request_parts", "run_contexts")


def checked_view_name(name: str) -> str:
    """``name`` if it can be a view of ours; ``StoreError`` naming the rule if not."""
    if not isinstance(name, str) or not _VIEW_NAME.fullmatch(name) or name in OWN_TABLES:
        raise StoreError(f"invalid table_name {name!r}: use lower-case letters, digits and _ "
                         f"(not one of our own tables: {', '.join(OWN_TABLES)})")
    return name


class PhidataViews(SqlRows):
    """Creates the read-only views named by phidata's ``table_name``s.

    A store scoped to a table name wants its view; it is made at the first write
    through that store (not when a storage object is built: that must not open, or
    wait for, the database), best effort: a view that cannot be made now never costs
    a run or a memory, and is tried again at the next write.
    """

    wanted_views: tuple[tuple[str, str], ...] = ()

    def _make_wanted_views(self) -> None:
        for kind, name in self.wanted_views:
            if (kind, name) in self.engine.views_made:
                continue
            try:
                self.ensure_view(kind, name)
            except Exception:  # noqa: BLE001 (best effort: the write itself decides)
                log.debug("view %s not made now", name, exc_info=True)

    def ensure_view(self, kind: str, name: str) -> None:
        """Make the view ``name`` of ``kind`` (``sessions`` or ``memories``) if missing."""
        name = checked_view_name(name)
        build = {"sessions": self._session_view, "memories": self._memory_view}.get(kind)
        if build is None:
            raise StoreError(f"no view kind {kind!r}: sessions or memories")
        made = self.engine.views_made
        if (kind, name) in made:
            return
        with self.engine.transaction() as con:
            self.engine.lock_session(con, "view " + name)  # PostgreSQL: one maker at a time
            con.execute(f"{self.engine.dialect.create_view} {name} AS {build(name)}")
        made.add((kind, name))

    def _session_view(self, name: str) -> str:
        d = self.engine.dialect
        obj = d.json_object
        messages_of_run = d.json_array(
            f"{obj}('role', m.role, 'content', m.content)",
            "messages m WHERE m.run_id = r.run_id AND m.deleted_at IS NULL", "m.seq")
        runs = d.json_array(
            f"{obj}('run_id', r.run_id, 'response', {obj}('run_id', r.run_id, 'model', "
            f"r.model, 'created_at', {d.epoch('r.created_at')}, 'messages', "
            f"{messages_of_run}))",
            "runs r WHERE r.session_id = s.session_id AND r.status = 'ok'", "r.seq")
        messages = d.json_array(
            f"{obj}('role', m.role, 'content', m.content)",
            "messages m JOIN runs r ON r.run_id = m.run_id WHERE m.session_id = s.session_id "
            "AND r.status = 'ok' AND m.deleted_at IS NULL", "r.seq, m.seq")
        summary = (f"(SELECT {obj}('summary', x.summary, 'topics', {d.list_json('x.topics')}) "
                   "FROM summaries x "
                   "WHERE x.session_id = s.session_id AND x.deleted_at IS NULL "
                   "ORDER BY x.version DESC LIMIT 1)")
        return (f"SELECT s.session_id, CAST(NULL AS VARCHAR) AS agent_id, s.user_id, "
                f"{obj}('runs', {runs}, 'messages', {messages}, 'summary', {summary}) "
                f"AS memory, {obj}('name', s.agent_name, 'model', {obj}('id', s.model)) "
                f"AS agent_data, CAST(NULL AS VARCHAR) AS user_data, "
                f"{obj}('session_name', s.session_name) AS session_data, "
                f"{d.epoch('s.created_at')} AS created_at, "
                f"{d.epoch('s.updated_at')} AS updated_at "
                f"FROM sessions s WHERE s.namespace = '{name}'")

    def _memory_view(self, name: str) -> str:
        d = self.engine.dialect
        return (f"SELECT memory_id AS id, user_id, {d.json_object}('memory', memory, "
                f"'input', input, 'topics', {d.list_json('topics')}) AS memory, created_at, "
                "updated_at "
                f"FROM memories WHERE deleted_at IS NULL AND namespace = '{name}'")
