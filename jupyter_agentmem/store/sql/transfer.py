"""Every row of a session, a user or the whole store, out and back in (export, import, migrate).

Rows leave as plain values (timestamps as ISO text, topics as lists) so they can be
written to any format and read into any backend. Importing keeps every id and adds
only the rows that are not there yet (by primary key), in one transaction: importing
twice adds nothing, and a bad file changes nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from ..base import StoreError
from .bulk import insert_rows
from .engine import Connection
from .import_owner import owned_rows
from .memories import summary_target
from .owner import not_yours
from .rows import LIST_COLUMNS, SqlRows
from .term_index import Doc, index_docs, mark_deleted

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

# Columns a database keeps for itself: never exported, refused in an import, written
# NULL by one (an imported run's texts get index rows: sql/term_index.py).
OWN_COLUMNS: dict[str, tuple[str, ...]] = {"runs": ("search_seq",)}

# Which rows belong to a session / a user: table -> WHERE taking the id (as often as
# it has ``?``). A user's sessions are those whose sessions.user_id is the user.
# request_parts has no session: its rows are those the exported run_contexts name.
PARTS_OF_CONTEXTS = "<the parts of the exported run_contexts>"
_USER_SESSIONS = "session_id IN (SELECT session_id FROM sessions WHERE user_id = ?)"
USER = ":user"  # in a scope's WHERE: the acting user (every other ``?``: the scope's key)
SCOPES: dict[str, dict[str, str]] = {
    "session": {
        "sessions": "session_id = ?",
        "runs": "session_id = ?",
        "messages": "session_id = ?",
        "summaries": "session_id = ?",
        # The memories this session gave rise to, and every event of the session or of
        # those memories: the exporting user's (USER), never another's naming it.
        "memories": "session_id = ? AND user_id = " + USER,
        "memory_events": "(session_id = ? AND (user_id IS NULL OR user_id = " + USER
                         + ")) OR target_id IN (SELECT memory_id FROM memories "
                         "WHERE session_id = ? AND user_id = " + USER + ")",
        "model_calls": "session_id = ? AND user_id = " + USER,
        "run_contexts": "session_id = ?",
        "request_parts": PARTS_OF_CONTEXTS,
        "provenance": "session_id = ? AND (user_id IS NULL OR user_id = " + USER + ")",
    },
    "user": {
        "sessions": "user_id = ?",
        "runs": _USER_SESSIONS,
        "messages": _USER_SESSIONS,
        "summaries": _USER_SESSIONS,
        "memories": "user_id = ?",
        "memory_events": "user_id = ? OR (user_id IS NULL AND " + _USER_SESSIONS + ")",
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
                params = [self._user_id if mark == USER else key
                          for mark in re.findall(r"\?|" + USER, where)]
                where = where.replace(USER, "?")
                order = ", ".join(TRANSFERRED[table])
                rows = self._dicts(f"SELECT * FROM {table} WHERE {where} ORDER BY {order}",
                                   params)
                own = OWN_COLUMNS.get(table, ())
                out[table] = [{c: plain(decode(v) if c in LIST_COLUMNS else v)
                               for c, v in row.items() if c not in own} for row in rows]
        return out

    def _parts_of(self, run_contexts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        hashes = sorted({h for row in run_contexts for h in json.loads(row["parts"])})
        with self._connection() as con:
            found = self._rows_in(con, "SELECT part_hash, body FROM request_parts",
                                  "part_hash", hashes)
        return [{"part_hash": h, "body": b} for h, b in sorted(found)]

    def import_rows(self, rows: Rows) -> dict[str, int]:
        """Add the rows not there yet (ids kept), as the acting user's; returns how many
        each table gained.

        All or nothing: an unknown table or column, a value the database refuses, or a
        row of another user's (``sql/import_owner.py``) raises ``StoreError`` and
        nothing is added. Three steps in one transaction: every row checked
        (``_checked``, then ``owned_rows``: the one place an import is judged, before
        anything is written), the rows already stored left out (``_unstored``), then one
        bulk write per table and the search index of what was added, in one pass.
        """
        return self._import(rows, owner_check=True)

    def _import(self, rows: Rows, owner_check: bool) -> dict[str, int]:
        if not isinstance(rows, dict):
            raise StoreError("an import is a mapping of table names to rows")
        unknown = sorted(set(rows) - set(TRANSFERRED))
        if unknown:
            raise StoreError(f"unknown table(s) {', '.join(map(repr, unknown))}; "
                             f"a transfer holds {', '.join(TRANSFERRED)}")
        try:
            with self._transaction() as con:
                if owner_check:  # every row the acting user's (before any write)
                    rows = owned_rows(con, rows, self._user_id)
                batch = self._checked(con, rows)
                new = self._unstored(con, batch)
                for table in TRANSFERRED:
                    own = OWN_COLUMNS.get(table, ())
                    for columns, values in new[table].items():
                        insert_rows(con, table, columns + own,
                                    [(*row, *(None for _ in own)) for row in values]
                                    if own else values)
                self._index_added(con, new)
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 (the engine's own error types differ)
            raise StoreError(f"the import was refused, nothing was added "
                             f"({type(exc).__name__}: {exc})") from None
        self.engine.recent_runs.clear()  # history may have gained runs
        return {table: sum(map(len, new[table].values())) for table in TRANSFERRED
                if rows.get(table)}

    def _checked(self, con: Connection, rows: Rows) -> Batch:
        """Every row's shape and values, in the form their columns take; rows grouped by
        the columns they name (a column a row leaves out gets its default)."""
        batch: Batch = {}
        encode = self.engine.dialect.encode_list
        for table in TRANSFERRED:
            found = rows.get(table) or []
            known = [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description
                     if d[0] not in OWN_COLUMNS.get(table, ())]
            known_set = set(known)
            typed = {c for c in known if c.endswith("_at") or c in LIST_COLUMNS}
            groups: dict[tuple[str, ...], list[tuple]] = {}
            for i, row in enumerate(found):
                if not isinstance(row, dict):
                    raise StoreError(f"{table} row {i} is not an object")
                extra = sorted(row.keys() - known_set)
                if extra:
                    raise StoreError(f"{table} row {i} has unknown column(s) "
                                     f"{', '.join(extra)}")
                missing = [k for k in TRANSFERRED[table] if row.get(k) is None]
                if missing:
                    raise StoreError(f"{table} row {i} lacks its key {', '.join(missing)}")
                columns = tuple(c for c in known if c in row)
                # A text in a text column is kept as it is (the common case, made quick).
                groups.setdefault(columns, []).append(tuple(
                    v if v is None or (type(v) is str and c not in typed) else
                    _stored(c, v, encode) for c, v in ((c, row[c]) for c in columns)))
            batch[table] = groups
        return batch

    def _unstored(self, con: Connection, batch: Batch) -> Batch:
        """``batch`` without the rows whose key is stored (or came earlier in the batch)."""
        new: Batch = {}
        for table, groups in batch.items():
            key = TRANSFERRED[table]
            lookup = _LOOKUP.get(table, key[0])
            wanted = list(dict.fromkeys(str(row[columns.index(lookup)])
                                        for columns, found in groups.items() for row in found))
            seen = self._stored_keys(con, table, key, lookup, wanted)
            new[table] = {}
            for columns, found in groups.items():
                at = [columns.index(k) for k in key]
                kept = []
                for row in found:
                    k = tuple(str(row[i]) for i in at)  # a version may come as "2" or 2
                    if k not in seen:
                        seen.add(k)
                        kept.append(row)
                if kept:
                    new[table][columns] = kept
        return new

    def _stored_keys(self, con: Connection, table: str, key: tuple[str, ...], lookup: str,
                     values: list[str]) -> set[tuple[str, ...]]:
        """The keys (as text) of ``table``'s stored rows whose ``lookup`` column is in
        ``values``."""
        return {tuple(map(str, row)) for row in self._rows_in(
            con, f"SELECT {', '.join(key)} FROM {table}", lookup, values)}

    def _rows_in(self, con: Connection, select: str, column: str,
                 values: Sequence[str]) -> list[tuple]:
        """``select``'s rows whose ``column`` (text) is one of ``values``: one statement
        per 10,000 values, each a list parameter."""
        dialect = self.engine.dialect
        found: list[tuple] = []
        for start in range(0, len(values), _KEYS_PER_QUERY):
            found += con.execute(f"{select} WHERE {dialect.in_list(column)}", [
                dialect.encode_id_list(list(values[start:start + _KEYS_PER_QUERY]))]).fetchall()
        return found

    def _index_added(self, con: Connection, new: Batch) -> None:
        """The added messages, memories and summary versions become searchable: the term
        index written in batches (``term_index.index_docs``), each text's owner its
        session's ``user_id`` as stored now (a memory's: its own)."""
        def values(table: str, *names: str) -> list[tuple]:
            out = []
            for columns, found in new[table].items():
                at = [columns.index(n) if n in columns else None for n in names]
                out += [tuple(None if i is None else row[i] for i in at) for row in found]
            return out

        messages = values("messages", "message_id", "session_id", "run_id", "role", "content",
                          "deleted_at")
        summaries = values("summaries", "session_id", "version", "summary", "deleted_at")
        sessions = list(dict.fromkeys([str(m[1]) for m in messages]
                                      + [str(s[0]) for s in summaries]))
        owners: dict[str, Any] = dict(self._rows_in(
            con, "SELECT session_id, user_id FROM sessions", "session_id", sessions))
        docs: list[tuple[Doc, bool]] = [
            ((mid, "messages", sid, owners.get(sid), rid, role, text), deleted is not None)
            for mid, sid, rid, role, text, deleted in messages]
        docs += [((mid, "memories", sid, uid, None, None, text), deleted is not None)
                 for mid, uid, sid, text, deleted in values(
                     "memories", "memory_id", "user_id", "session_id", "memory", "deleted_at")]
        docs += [((summary_target(sid, version), "summaries", sid, owners.get(sid), None, None,
                   text), deleted is not None) for sid, version, text, deleted in summaries]
        for start in range(0, len(docs), _DOCS_PER_BATCH):
            index_docs(con, [doc for doc, _ in docs[start:start + _DOCS_PER_BATCH]])
        for doc, deleted in docs:
            if deleted:
                mark_deleted(con, doc[0], True)


BOOLEAN_COLUMNS = ("estimated", "ok")  # of the transferred tables
# Which column finds a table's stored keys (the first key column unless said: for
# provenance, target is one of two values).
_LOOKUP = {"provenance": "target_id"}
_KEYS_PER_QUERY = 10_000  # ids in one list parameter
_DOCS_PER_BATCH = 20_000  # texts indexed at once: bounded memory for their terms

# table -> {columns a group of rows names: those rows, as the columns take them}
Batch = dict[str, dict[tuple[str, ...], list[tuple]]]


def _stored(column: str, value: Any, encode: Callable[[list[str]], Any]) -> Any:
    """A plain value back in the form the column takes."""
    if value is None:
        return None
    if column in LIST_COLUMNS:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise StoreError(f"{column} must be a list of strings, not {value!r:.60}")
        return encode(value)
    if column.endswith("_at"):  # our schema's timestamps all end in _at
        if not isinstance(value, datetime):
            try:
                value = datetime.fromisoformat(str(value))
            except ValueError:
                raise StoreError(f"{column} is not a timestamp: {value!r:.60}") from None
        if value.tzinfo is not None:  # stored as naive UTC (types.utcnow)
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value
    if column in BOOLEAN_COLUMNS and value in (0, 1):  # SQLite's export says 0 / 1
        return bool(value)
    if isinstance(value, (dict, list)):  # old/new of an event, tool calls: JSON text
        return json.dumps(value)
    return value
