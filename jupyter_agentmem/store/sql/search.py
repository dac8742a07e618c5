"""Full-text search over messages, memories and summaries, ranked by BM25.

DuckDB's full-text extension cannot be installed offline, and SQLite's FTS5 and
PostgreSQL's tsvector differ, so the store keeps its own term index
(``sql/term_index.py``) that this shared SQL queries on every backend.

Ranking is Okapi BM25 (k1 = 1.2, b = 0.75). The collection statistics (document
count, mean length, each term's document frequency) are read first and the term
weights are passed to the scoring query as parameters: no ``ln`` in SQL (SQLite may
lack it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..base import StoreError
from .engine import Connection
from .rows import SqlRows
from .term_index import SUMMARY_DOC_ID, terms_of

K1, B = 1.2, 0.75
KINDS = ("messages", "memories", "summaries")


def snippet(text: str, terms: Sequence[str], width: int = 160) -> str:
    """``width`` characters of ``text`` around the first query term found."""
    flat = " ".join((text or "").split())
    lowered = flat.lower()
    hits = [i for i in (lowered.find(t) for t in terms) if i >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    cut = flat[start:start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(flat) else "")


class SearchSql(SqlRows):
    """The BM25 query over the term index (a mixin of ``SqlStore``)."""

    _user_id: str  # the acting user (SqlStore.as_user)

    # --- reading ---------------------------------------------------------------
    def search(self, query: str, session_id: str | None = None,
               kinds: Sequence[str] = KINDS, limit: int = 20) -> list[dict[str, Any]]:
        """The ``limit`` best-ranked texts of the acting user for ``query``, best first:
        their sessions' messages and summaries, their memories; ``session_id`` keeps
        only that session's."""
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise StoreError(f"cannot search in {', '.join(unknown)}: use {', '.join(KINDS)}")
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise StoreError("limit must be a whole number from 1 to 10000")
        terms = list(dict.fromkeys(terms_of(query)))[:32]
        if not terms or not kinds:
            return []
        marks = ", ".join("?" for _ in terms)
        with self._connection() as con:
            total, mean = con.execute(
                "SELECT count(*), avg(length) FROM search_docs WHERE NOT deleted").fetchone()
            if not total:
                return []
            df = dict(con.execute(
                f"SELECT term, count(*) FROM search_terms WHERE term IN ({marks}) "
                "GROUP BY term", terms).fetchall())
            weights = [(t, math.log(1 + (total - df[t] + 0.5) / (df[t] + 0.5)))
                       for t in terms if t in df]
            if not weights:
                return []
            # The weights come in as a VALUES list of parameters, joined by term.
            values = ", ".join("(?, ?)" for _ in weights)
            scope, params = self._scope(session_id, self._user_id, kinds)
            rows = con.execute(
                f"""WITH q(term, idf) AS (VALUES {values})
                    SELECT d.doc_id, d.kind, d.session_id, d.user_id, d.run_id, d.role,
                           sum(q.idf * t.tf * {K1 + 1}
                               / (t.tf + {K1} * (1 - {B} + {B} * d.length / ?))) AS score
                    FROM search_terms t JOIN q USING (term) JOIN search_docs d USING (doc_id)
                    WHERE NOT d.deleted {scope}
                    GROUP BY d.doc_id, d.kind, d.session_id, d.user_id, d.run_id, d.role
                    ORDER BY score DESC, d.doc_id LIMIT ?""",
                [v for pair in weights for v in pair] + [float(mean or 1.0)] + params
                + [limit]).fetchall()
            keys = ["id", "kind", "session_id", "user_id", "run_id", "role", "score"]
            hits = [dict(zip(keys, row)) for row in rows]
            self._add_texts(con, hits, terms)
        return hits

    @staticmethod
    def _scope(session_id: str | None, user_id: str,
               kinds: Sequence[str]) -> tuple[str, list[Any]]:
        where = [f"AND d.kind IN ({', '.join('?' for _ in kinds)})"]
        params: list[Any] = list(kinds)
        if session_id is not None:
            where.append("AND d.session_id = ?")
            params.append(session_id)
        where.append("AND d.user_id = ?")  # the owner (sql/owner.py), in the same query
        params.append(user_id)
        return " ".join(where), params

    @staticmethod
    def _add_texts(con: Connection, hits: list[dict[str, Any]], terms: Sequence[str]) -> None:
        """Each hit's snippet, created_at and (for messages) run seq: one query per kind."""
        sources = {
            "messages": "SELECT m.message_id, m.content, m.created_at, r.seq FROM messages m "
                        "JOIN runs r USING (run_id) WHERE m.message_id IN ({})",
            "memories": "SELECT memory_id, memory, updated_at, NULL FROM memories "
                        "WHERE memory_id IN ({})",
            "summaries": f"SELECT {SUMMARY_DOC_ID}, summary, created_at, NULL FROM summaries "
                         f"WHERE {SUMMARY_DOC_ID} IN ({{}})",
        }
        found: dict[str, tuple] = {}
        for kind, sql in sources.items():
            ids = [h["id"] for h in hits if h["kind"] == kind]
            if ids:
                marks = ", ".join("?" for _ in ids)
                found.update((row[0], row[1:]) for row in
                             con.execute(sql.replace("{}", marks), ids).fetchall())
        for hit in hits:
            text, created_at, seq = found.get(hit["id"], ("", None, None))
            hit.update(snippet=snippet(text or "", terms), created_at=created_at, run_seq=seq)
