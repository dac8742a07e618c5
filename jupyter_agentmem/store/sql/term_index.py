"""What the search index must learn, written in the same transaction as the text it is about.

The ranking itself is served from memory (``sql/search_index.py``); what every process
needs to keep its copy current lives in SQL, so it is right on every backend and for
every kernel of a shared PostgreSQL:

- ``search_docs``: one row per indexed text (its id, kind, session, owner, run, role,
  a deleted flag) and ``rev``, the owner's index revision at its last change;
- ``search_revs``: per user, the latest revision (bumped by every write that changes one
  of their texts, under the row's lock: on PostgreSQL revisions commit in order, so a
  reader that sees revision R has every change up to R) and an ``epoch`` that a user's
  purge bumps (every process drops what it holds of that user).

A run, an edit, a delete or restore, an import, a purge each write these
(``sql/store.py``, ``sql/rows.py``, ``sql/memories.py``, ``sql/transfer.py``,
``sql/purge.py``); a process catches up at its next search by reading the rows whose
``rev`` is past its own and re-reading their texts.

But a run appended where the engine numbers appends (``Dialect.numbered_appends``:
DuckDB) writes neither: its ``runs.search_seq`` (a sequence, in the run's own INSERT) is
what tells the index. Runs commit there one at a time in the order of their numbers, so
a process that has every run up to number N finds the new ones as ``search_seq > N``
(``SearchIndexes._catch_up_appends``), and a turn's commit does no index work at all
(the two statements took 1.6-2.3 ms of it at 100k messages). Such a message gets its
row when it first changes (``changed``); until then its run's number stands for it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence

from .bulk import insert_rows
from .engine import Connection

_CHUNK = 500  # rows per statement: bounded statement size
_DOC_COLUMNS = ("doc_id", "kind", "session_id", "user_id", "run_id", "role", "length",
                "deleted", "rev")

# (doc_id, kind, session_id, user_id, run_id, role, text)
Doc = tuple[str, str, "str | None", "str | None", "str | None", "str | None", "str | None"]


def bump(con: Connection, user_id: str, epoch: bool = False) -> int:
    """The user's next index revision (their row is locked until COMMIT); ``epoch``: a
    purge of the user, every process drops its copy."""
    more = ", epoch = epoch + 1" if epoch else ""
    sql = f"UPDATE search_revs SET rev = rev + 1{more} WHERE user_id = ? RETURNING rev"
    row = con.execute(sql, [user_id]).fetchone()
    if row is None:
        con.execute("INSERT INTO search_revs (user_id, rev, epoch) VALUES (?, 0, ?) "
                    "ON CONFLICT DO NOTHING",  # another writer's, meanwhile
                    [user_id, first_epoch()])
        row = con.execute(sql, [user_id]).fetchone()
    return int(row[0])


def first_epoch() -> int:
    """A new user's first epoch: random, so a snapshot left by another database of the
    same name (deleted and made again beside its old ``.search`` folder) never matches."""
    return secrets.randbits(62)


def _bumped(con: Connection, users: Iterable[str | None]) -> dict[str | None, int]:
    # In a fixed order: two writers never wait on each other's rows the other way round.
    revs: dict[str | None, int] = {None: 0}
    for user in sorted({u for u in users if u is not None}):
        revs[user] = bump(con, user)
    return revs


def index_docs(con: Connection, docs: Sequence[Doc]) -> dict[str | None, int]:
    """Index texts that have no index row yet (a text without an owner is searched by
    nobody: its row waits for an owner that never comes); each owner's new revision."""
    if not docs:
        return {}
    revs = _bumped(con, (d[3] for d in docs))
    _insert_docs(con, docs, revs)
    return revs


def _insert_docs(con: Connection, docs: Sequence[Doc], revs: dict[str | None, int]) -> None:
    rows = [(doc_id, kind, session_id, user_id, run_id, role, 0, False, revs[user_id])
            for doc_id, kind, session_id, user_id, run_id, role, _ in docs]
    # A run's few rows: one multi-row statement (a statement costs ~0.5 ms however
    # small); an import's thousands: the dialect's bulk write (DuckDB binds parameters
    # slowly: 105k rows took 7.8 s of a 100k-message import as multi-row INSERTs,
    # bench/bench_scale.py).
    insert_rows(con, "search_docs", _DOC_COLUMNS, rows)


def changed(con: Connection, doc_ids: Sequence[str], deleted: bool | None = None) -> None:
    """These texts changed (edited; ``deleted``: soft-deleted or restored; purged): each
    owner's index catches up at its next search. A message of a numbered run gets its
    row now (its revision says what changed)."""
    owners: dict[str | None, list[str]] = {}
    unlisted: list[tuple] = []
    for start in range(0, len(doc_ids), _CHUNK):
        chunk = list(doc_ids[start:start + _CHUNK])
        marks = ", ".join("?" for _ in chunk)
        found = con.execute(f"SELECT doc_id, user_id FROM search_docs WHERE doc_id IN "
                            f"({marks})", chunk).fetchall()
        for doc_id, user_id in found:
            owners.setdefault(user_id, []).append(doc_id)
        if len(found) < len(chunk):
            unlisted += con.execute(  # (owned by the run's writer, as index_docs has it)
                "SELECT m.message_id, 'messages', m.session_id, r.user_id, m.run_id, m.role, "
                "NULL FROM messages m JOIN runs r ON r.run_id = m.run_id "  # (text unread)
                f"WHERE r.search_seq IS NOT NULL AND m.message_id IN ({marks}) "
                "AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.doc_id = m.message_id)",
                chunk).fetchall()
    revs = _bumped(con, [*owners, *(doc[3] for doc in unlisted)])
    _insert_docs(con, unlisted, revs)  # (the UPDATE below sets their flag)
    for doc in unlisted:
        owners.setdefault(doc[3], []).append(doc[0])
    flag = "" if deleted is None else ", deleted = ?"
    for user_id, ids in owners.items():
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start:start + _CHUNK]
            con.execute(f"UPDATE search_docs SET rev = ?{flag} WHERE doc_id IN "
                        f"({', '.join('?' for _ in chunk)})",
                        [revs[user_id], *([] if deleted is None else [deleted]), *chunk])


def reindex_text(con: Connection, doc_id: str, text: str | None) -> None:
    """An indexed text was edited (the index reads the new text when it catches up)."""
    del text
    changed(con, [doc_id])


def mark_deleted(con: Connection, doc_id: str, deleted: bool) -> None:
    """A soft delete or restore: the text leaves (or rejoins) the results."""
    changed(con, [doc_id], deleted)


SUMMARY_DOC_ID = "session_id || '#' || CAST(version AS VARCHAR)"  # = summary_target()
