"""The search term index, written in the same transaction as the text it indexes.

``search_docs`` holds one row per indexed text (its kind, session, user, run, role,
length in terms and a deleted flag) and ``search_terms`` one row per (term, text) with
the term's count. A run, an edit, a delete or restore, an import each keep it current
(``sql/store.py``, ``sql/rows.py``, ``sql/memories.py``, ``sql/transfer.py``); the
query side is ``sql/search.py``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .bulk import insert_rows
from .engine import Connection

INDEXED_CHARS = 100_000  # a longer text is searchable by its first 100,000 characters
MAX_TERM_CHARS = 64  # longer "words" (base64, hashes) are not worth an index row
_WORD = re.compile(r"\w+")
_DOC_COLUMNS = ("doc_id", "kind", "session_id", "user_id", "run_id", "role", "length", "deleted")

# (doc_id, kind, session_id, user_id, run_id, role, text)
Doc = tuple[str, str, "str | None", "str | None", "str | None", "str | None", "str | None"]


def terms_of(text: str | None) -> list[str]:
    """The index terms of ``text``: lower-cased words, in order."""
    if not text:
        return []
    return [w for w in _WORD.findall(text[:INDEXED_CHARS].lower()) if len(w) <= MAX_TERM_CHARS]


def _insert_terms(con: Connection, rows: list[tuple[str, str, int]]) -> None:
    insert_rows(con, "search_terms", ("term", "doc_id", "tf"), rows)


def index_docs(con: Connection, docs: Sequence[Doc]) -> None:
    """Index texts that have no index row yet."""
    doc_rows: list[Any] = []
    term_rows: list[tuple[str, str, int]] = []
    for doc_id, kind, session_id, user_id, run_id, role, text in docs:
        counts = Counter(terms_of(text))
        doc_rows.append((doc_id, kind, session_id, user_id, run_id, role,
                         sum(counts.values())))
        term_rows += [(term, doc_id, n) for term, n in counts.items()]
    if not doc_rows:
        return
    # Few multi-row statements per table (sql/bulk.py): a statement costs ~0.6 ms
    # however small.
    insert_rows(con, "search_docs", _DOC_COLUMNS, [(*row, False) for row in doc_rows])
    _insert_terms(con, term_rows)


def reindex_text(con: Connection, doc_id: str, text: str | None) -> None:
    """An indexed text changed: its terms and length follow."""
    counts = Counter(terms_of(text))
    con.execute("DELETE FROM search_terms WHERE doc_id = ?", [doc_id])
    con.execute("UPDATE search_docs SET length = ? WHERE doc_id = ?",
                [sum(counts.values()), doc_id])
    _insert_terms(con, [(term, doc_id, n) for term, n in counts.items()])


def mark_deleted(con: Connection, doc_id: str, deleted: bool) -> None:
    """A soft delete or restore: the text leaves (or rejoins) the results."""
    con.execute("UPDATE search_docs SET deleted = ? WHERE doc_id = ?", [deleted, doc_id])


def unindex_session(con: Connection, session_id: str) -> None:
    """A session deleted: its messages and summary versions leave the index (the
    memories it gave rise to are the user's, and stay)."""
    docs = "SELECT doc_id FROM search_docs WHERE session_id = ? AND kind <> 'memories'"
    con.execute(f"DELETE FROM search_terms WHERE doc_id IN ({docs})", [session_id])
    con.execute("DELETE FROM search_docs WHERE session_id = ? AND kind <> 'memories'",
                [session_id])


SUMMARY_DOC_ID = "session_id || '#' || CAST(version AS VARCHAR)"  # = summary_target()


def index_unindexed(con: Connection) -> None:
    """Index every stored text that has no index row (after an import or a migration)."""
    found: list[tuple] = []
    found += con.execute(
        "SELECT m.message_id, 'messages', m.session_id, s.user_id, m.run_id, m.role, "
        "m.content, m.deleted_at FROM messages m LEFT JOIN sessions s USING (session_id) "
        "WHERE m.message_id NOT IN (SELECT doc_id FROM search_docs)").fetchall()
    found += con.execute(
        "SELECT memory_id, 'memories', session_id, user_id, NULL, NULL, memory, deleted_at "
        "FROM memories WHERE memory_id NOT IN (SELECT doc_id FROM search_docs)").fetchall()
    found += con.execute(
        f"SELECT {SUMMARY_DOC_ID}, 'summaries', x.session_id, s.user_id, NULL, NULL, "
        "x.summary, x.deleted_at FROM summaries x LEFT JOIN sessions s USING (session_id) "
        f"WHERE {SUMMARY_DOC_ID.replace('session_id', 'x.session_id')} "
        "NOT IN (SELECT doc_id FROM search_docs)").fetchall()
    index_docs(con, [row[:7] for row in found])
    for row in found:
        if row[7] is not None:
            mark_deleted(con, row[0], True)
