"""Full-text search over messages, memories and summaries, ranked by BM25, per user.

The ranking comes from the user's in-memory index (``sql/search_index.py``: one
partition per kind, each with the user's own statistics, English stems and stopwords
by default), caught up with SQL before each query; the hits' texts, dates and owners
are then read by id, and a hit whose session or memory is not the user's (checked in
SQL, whatever the index said) or whose text is gone is dropped.

A quoted phrase (``"planted tulips"``) ranks the texts that hold it, as written
(case and spacing aside), before those that only hold its words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..base import StoreError
from ..text_terms import PHRASE
from .engine import Connection
from .rows import SqlRows
from .search_index import PARTS, SearchIndexes
from .term_index import SUMMARY_DOC_ID

KINDS = ("messages", "memories", "summaries")
_IDS = 500


def snippet(text: str, terms: Sequence[str], width: int = 160) -> str:
    """``width`` characters of ``text`` around the first query word found."""
    flat = " ".join((text or "").split())
    lowered = flat.lower()
    hits = [i for i in (lowered.find(t) for t in terms if t) if i >= 0]
    start = max(0, min(hits) - width // 3) if hits else 0
    cut = flat[start:start + width]
    return ("…" if start else "") + cut + ("…" if start + width < len(flat) else "")


def _flat(text: str) -> str:
    return " ".join(text.casefold().split())


def _in(con: Connection, sql: str, ids: Sequence[Any], after: Sequence[Any] = ()
        ) -> list[tuple]:
    found: list[tuple] = []
    for start in range(0, len(ids), _IDS):
        chunk = list(ids[start:start + _IDS])
        found += con.execute(sql.replace("{}", ", ".join("?" for _ in chunk)),
                             [*chunk, *after]).fetchall()
    return found


class SearchSql(SqlRows):
    """The search side of ``SqlStore``: the in-memory index, and the hits read by id."""

    _user_id: str  # the acting user (SqlStore.as_user): every search is theirs

    # --- the index ------------------------------------------------------------
    def search_index(self) -> SearchIndexes:
        """This database's in-memory indexes in this process (one per engine)."""
        found = self.engine.search_indexes
        if found is None:
            try:
                found = self.engine.search_indexes = SearchIndexes(self.engine)
            except ValueError as exc:  # AGENTMEM_SEARCH_LANGUAGE names no stemmer
                raise StoreError(str(exc)) from None
        return found

    def set_search_language(self, language: str | None) -> None:
        """Stem (and, in English, drop stopwords) in ``language``; ``None`` or ``"none"``:
        every word as written. The index is rebuilt at the next search."""
        try:
            self.engine.search_indexes = SearchIndexes(
                self.engine, "none" if language is None else language)
        except ValueError as exc:
            raise StoreError(str(exc)) from None

    def build_search_index(self, user_ids: Sequence[str] | None = None) -> None:
        """Build (or load) every partition of these users' indexes now, in one pass over
        their texts, and store them as snapshots: what an import or a migration calls
        after writing many texts, so no later search pays for it. All users when None."""
        indexes = self.search_index()
        with self._connection() as con:
            users = list(user_ids) if user_ids is not None else indexes.users(con)
            for user_id in users:
                indexes.forget(user_id)
                for part in PARTS:
                    indexes.partition(con, user_id, part)

    def search_ids(self, query: str, kind: str, limit: int,
                   session_id: str | None = None) -> list[tuple[str, float]]:
        """The ``limit`` best (id, score) of the acting user's ``kind`` (messages,
        exchanges: run ids, memories, summaries) for ``query``, best first; ids only (the
        caller reads the rows, scoped to the user, in SQL)."""
        if kind not in PARTS:
            raise StoreError(f"cannot search in {kind}: use {', '.join(PARTS)}")
        user_id = self._user_id
        indexes = self.search_index()
        terms = indexes.analyzer.query_terms(query, stop=kind == "messages")
        if not terms or limit <= 0:
            return []
        with self._reading() as con:  # the queued runs are not indexed until committed
            return indexes.partition(con, user_id, kind).top(terms, limit, session_id)

    # --- reading ---------------------------------------------------------------
    def search(self, query: str, session_id: str | None = None,
               kinds: Sequence[str] = KINDS, limit: int = 20) -> list[dict[str, Any]]:
        """The ``limit`` best-ranked texts of the acting user for ``query``, best first:
        their sessions' messages and summaries, their memories (each read back by id with
        its owner checked in SQL, ``_hits``); ``session_id`` keeps only that session's."""
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise StoreError(f"cannot search in {', '.join(unknown)}: use {', '.join(KINDS)}")
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise StoreError("limit must be a whole number from 1 to 10000")
        indexes = self.search_index()
        # Stopwords are searched in messages only (their index holds them), where meant.
        terms = {kind: indexes.analyzer.query_terms(query, stop=kind == "messages")
                 for kind in dict.fromkeys(kinds)}
        if not any(terms.values()):
            return []
        phrases = [_flat(p) for p in PHRASE.findall(query) if p.strip()]
        wanted = min(10_000, limit * 5 + 20) if phrases else limit
        with self._connection() as con:
            user = self._user_id  # only the acting user's index is ever asked
            ranked = [(score, kind, doc_id, user)
                      for kind in terms if terms[kind]
                      for doc_id, score in indexes.partition(con, user, kind).top(
                          terms[kind], wanted, session_id)]
            ranked.sort(key=lambda r: (-r[0], r[2]))
            hits = self._hits(con, ranked[:wanted], session_id)
        if phrases:  # those that hold every quoted phrase first, by score within each
            hits.sort(key=lambda h: not all(p in _flat(h["text"]) for p in phrases))
        words = [w.lower() for w in re.findall(r"\w+", query)]
        for hit in hits:
            hit["snippet"] = snippet(hit.pop("text"), [*phrases, *words])
        return hits[:limit]

    @staticmethod
    def _hits(con: Connection, ranked: list[tuple[float, str, str, str]],
              session_id: str | None) -> list[dict[str, Any]]:
        """The ranked ids as hits, their rows read by id; a row that is gone, deleted,
        or not its user's (checked here in SQL) is left out."""
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        ids = {kind: [r[2] for r in ranked if r[1] == kind] for kind in KINDS}
        messages = _in(con, "SELECT message_id, session_id, run_id, role, content, "
                            "created_at FROM messages WHERE message_id IN ({}) "
                            "AND deleted_at IS NULL", ids["messages"])
        runs = dict(_in(con, "SELECT run_id, seq FROM runs WHERE run_id IN ({})",
                        list({m[2] for m in messages})))
        # By session (the key's first column), not by the id expression (a full scan).
        wanted = set(ids["summaries"])
        summaries = [row for row in _in(
            con, f"SELECT {SUMMARY_DOC_ID}, session_id, summary, created_at FROM summaries "
                 "WHERE session_id IN ({}) AND deleted_at IS NULL",
            list({i.rpartition("#")[0] for i in wanted})) if row[0] in wanted]
        owners = dict(_in(con, "SELECT session_id, user_id FROM sessions "
                               "WHERE session_id IN ({})",
                          list({m[1] for m in messages} | {s[1] for s in summaries})))
        for mid, session, run_id, role, content, created_at in messages:
            rows["messages", mid] = dict(session_id=session, user_id=owners.get(session),
                                         run_id=run_id, role=role, text=content or "",
                                         created_at=created_at, run_seq=runs.get(run_id))
        for sid, session, summary, created_at in summaries:
            rows["summaries", sid] = dict(session_id=session, user_id=owners.get(session),
                                          run_id=None, role=None, text=summary or "",
                                          created_at=created_at, run_seq=None)
        for mid, session, memory, updated_at, owner in _in(
                con, "SELECT memory_id, session_id, memory, updated_at, user_id FROM memories "
                     "WHERE memory_id IN ({}) AND deleted_at IS NULL", ids["memories"]):
            rows["memories", mid] = dict(session_id=session, user_id=owner, run_id=None,
                                         role=None, text=memory or "", created_at=updated_at,
                                         run_seq=None)
        hits = []
        for score, kind, doc_id, user in ranked:
            row = rows.get((kind, doc_id))
            if row is None or row["user_id"] != user:
                continue
            if session_id is not None and row["session_id"] != session_id:
                continue
            hits.append({"id": doc_id, "kind": kind, "score": score, **row})
        return hits
