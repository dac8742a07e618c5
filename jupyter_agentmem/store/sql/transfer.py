"""Every row of a session, a user or the whole store, out and back in (export, import, migrate).

Rows leave as plain values (timestamps as ISO text, topics as lists) so they can be
written to any format and read into any backend. Importing keeps every id and adds
only the rows that are not there yet (by primary key), in one transaction: importing
twice adds nothing, and a bad file changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ..base import StoreError
from .import_owner import owned_rows
from .owner import not_yours
from .rows import LIST_COLUMNS, SqlRows
from .term_index import index_unindexed

# The tables a transfer carries, parents first (the order rows are imported in), with
# their primary keys.
TRANSFERRED: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id",),
    "runs": ("run_id",),
    "messages": ("message_id",),
    "summaries": ("session_id", "version"),
    "memories": ("memory_id",),
    "memory_events": ("event_id",),
    "model_calls": ("call_id",),
    "run_contexts": ("run_id",),  # what each run sent the model (sql/contexts.py) ...
    "request_parts": ("part_hash",),  # ... and the messages it is made of, by hash
    "provenance": ("target", "target_id", "run_id"),  # the runs memories/summaries came from
}

# Which rows belong to a session / a user: table -> WHERE taking the id (as often as
# it has ``?``). A user's sessions are those whose sessions.user_id is the user.
# request_parts has no session: its rows are those the exported run_contexts name.
PARTS_OF_CONTEXTS = "<the parts of the exported run_contexts>"
_USER_SESSIONS = "session_id IN (SELECT session_id FROM sessions WHERE user_id = ?)"
SCOPES: dict[str, dict[str, str]] = {
    "session": {
        "sessions": "session_id = ?",
        "runs": "session_id = ?",
        "messages": "session_id = ?",
        "summaries": "session_id = ?",
        # The memories this session gave rise to, and every event of the session or of
        # those memories.
        "memories": "session_id = ?",
        "memory_events": "session_id = ? OR target_id IN "
                         "(SELECT memory_id FROM memories WHERE session_id = ?)",
        "model_calls": "session_id = ?",
        "run_contexts": "session_id = ?",
        "request_parts": PARTS_OF_CONTEXTS,
        "provenance": "session_id = ?",
    },
    "user": {
        "sessions": "user_id = ?",
        "runs": _USER_SESSIONS,
        "messages": _USER_SESSIONS,
        "summaries": _USER_SESSIONS,
        "memories": "user_id = ?",
        "memory_events": "user_id = ? OR " + _USER_SESSIONS,
        "model_calls": "user_id = ?",
        "run_contexts": _USER_SESSIONS,
        "request_parts": PARTS_OF_CONTEXTS,
        "provenance": "user_id = ?",
    },
    "all": {table: "true" for table in TRANSFERRED},
}

Rows = dict[str, list[dict[str, Any]]]


def plain(value: Any) -> Any:
    """A stored value as JSON can hold it (timestamps as ISO text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value


class TransferSql(SqlRows):
    """Export and import of rows (a mixin of ``SqlStore``)."""

    _user_id: str  # the acting user (SqlStore.as_user)

    def export_rows(self, session_id: str | None = None) -> Rows:
        """Every row of one of the acting user's sessions, or of all their data."""
        if session_id is None:
            return self._export("user", self._user_id)
        with self._connection() as con:
            found = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                                [session_id]).fetchone()
        if found is not None and found[0] not in (None, self._user_id):
            raise StoreError(not_yours(session_id))
        return self._export("session", session_id)

    def _export(self, scope: str, key: Any) -> Rows:
        decode = self.engine.dialect.decode_list
        out: Rows = {}
        with self._connection():
            for table, where in SCOPES[scope].items():
                if where == PARTS_OF_CONTEXTS:
                    out[table] = self._parts_of(out["run_contexts"])
                    continue
                params = [key] * where.count("?")
                order = ", ".join(TRANSFERRED[table])
                rows = self._dicts(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}",
                                   params)
                out[table] = [{c: plain(decode(v) if c in LIST_COLUMNS else v)
                               for c, v in row.items()} for row in rows]
        return out

    def _parts_of(self, run_contexts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        hashes = sorted({h for row in run_contexts for h in json.loads(row["parts"])})
        found: list[dict[str, Any]] = []
        for start in range(0, len(hashes), 500):  # a bounded number of placeholders
            chunk = hashes[start:start + 500]
            found += self._dicts("SELECT * FROM request_parts WHERE part_hash IN ("
                                 + ", ".join("?" * len(chunk)) + ")", chunk)
        return sorted(found, key=lambda row: row["part_hash"])

    def import_rows(self, rows: Rows) -> dict[str, int]:
        """Add the rows not there yet (ids kept), as the acting user's; returns how many
        each table gained.

        All or nothing: an unknown table or column, a value the database refuses, or a
        row of another user's (``sql/import_owner.py``) raises ``StoreError`` and
        nothing is added.
        """
        return self._import(rows, owner_check=True)

    def _import(self, rows: Rows, owner_check: bool) -> dict[str, int]:
        if not isinstance(rows, dict):
            raise StoreError("an import is a mapping of table names to rows")
        unknown = sorted(set(rows) - set(TRANSFERRED))
        if unknown:
            raise StoreError(f"unknown table(s) {', '.join(map(repr, unknown))}; "
                             f"a transfer holds {', '.join(TRANSFERRED)}")
        added: dict[str, int] = {}
        try:
            with self._transaction() as con:
                if owner_check:
                    rows = owned_rows(con, rows, self._user_id)
                for table in TRANSFERRED:
                    if rows.get(table):
                        added[table] = self._insert_new(con, table, rows[table])
                index_unindexed(con)  # what was added becomes searchable
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 (the engine's own error types differ)
            raise StoreError(f"the import was refused, nothing was added "
                             f"({type(exc).__name__}: {exc})") from None
        self.engine.recent_runs.clear()  # history may have gained runs
        return added

    def _insert_new(self, con: Any, table: str, rows: Sequence[dict[str, Any]]) -> int:
        columns = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise StoreError(f"{table} row {i} is not an object")
            extra = sorted(set(row) - set(columns))
            if extra:
                raise StoreError(f"{table} row {i} has unknown column(s) {', '.join(extra)}")
            missing = [k for k in TRANSFERRED[table] if row.get(k) is None]
            if missing:
                raise StoreError(f"{table} row {i} lacks its key {', '.join(missing)}")
        (before,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        encode = self.engine.dialect.encode_list
        for row in rows:
            names = [c for c in columns if c in row]
            con.execute(
                f"INSERT INTO {table} ({', '.join(names)}) "
                f"VALUES ({', '.join('?' for _ in names)}) ON CONFLICT DO NOTHING",
                [_stored(c, row[c], encode) for c in names])
        (after,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        return after - before


def _stored(column: str, value: Any, encode: Callable[[list[str]], Any]) -> Any:
    """A plain value back in the form the column takes."""
    if value is None:
        return None
    if column in LIST_COLUMNS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise StoreError(f"{column} must be a list of strings, not {value!r:.60}")
        return encode(value)
    if column.endswith("_at"):  # our schema's timestamps all end in _at
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(str(value))
        except ValueError:
            raise StoreError(f"{column} is not a timestamp: {value!r:.60}") from None
    if isinstance(value, (dict, list)):  # old/new of an event, tool calls: JSON text
        return json.dumps(value)
    return value

