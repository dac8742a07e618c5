"""Purge: a user's, a session's or one message's text removed for good (a mixin of ``SqlStore``).

What goes, in one transaction: the messages (rows deleted, not soft-deleted); with a
user or a session also its runs, summaries, requests and the session row; the memories
and summary versions derived from the purged runs (``sql/provenance.py``; see
``_derived_memories`` / ``_derived_summaries`` for rows stored before provenance); their
search index rows; the stored requests (``request_parts``) that hold the text: a
remaining run's request that quoted it gets a copy with ``[purged]`` in its place, a
part nobody refers to any more is deleted. The usage ledger keeps the numbers (a purged
run becomes a ``model_calls`` row of kind ``chat``); the audit trail
(``memory_events``) keeps a sha256 of each old and new value instead of the value.
After COMMIT the engine scrubs the file (``Engine.scrub``: DuckDB rewrites it, SQLite
VACUUMs, PostgreSQL VACUUM FULLs the tables) so the bytes are gone too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...types import new_id, without_prompt_tags
from ..base import StoreError
from ..values import check_id
from . import provenance, term_index
from .contexts import part_json
from .engine import Connection
from .memories import summary_target
from .rows import SqlRows
from .staged import recover

PURGED = "[purged]"  # what a remaining stored request shows in place of purged text
# A purged text shorter than this is replaced in a stored request only where it is a
# message's whole content: as a substring ("yes", "ok") it would hit unrelated words.
MIN_SUBSTRING_CHARS = 8
# A long text may be quoted cut in a stored request (recall sends ~800 characters of a
# long message: memory/recall.py RECALL_CHARS): any stretch of a stored request this
# long that is also in a purged text (of at least twice this) is replaced. Shorter
# shared stretches are common phrases, not a quote.
FRAGMENT_CHARS = 64
# The tables a purge deletes from (PostgreSQL VACUUMs them afterwards).
PURGED_TABLES = ("sessions", "runs", "messages", "memories", "summaries", "memory_events",
                 "run_contexts", "request_parts", "search_docs", "search_snapshots",
                 "provenance")


@dataclass
class Plan:
    """What one purge removes (ids), and the texts that must leave stored requests."""

    user_id: str
    scope: str  # user | session | message
    key: str
    sessions: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)  # deleted (with their messages)
    source_runs: list[str] = field(default_factory=list)  # what derived rows came from
    messages: list[str] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)
    summaries: list[tuple[str, int]] = field(default_factory=list)
    texts: set[str] = field(default_factory=set)
    done_before: bool = False  # purged already: only the files are scrubbed again

    def counts(self) -> dict[str, int]:
        return {"sessions": len(self.sessions), "runs": len(self.runs),
                "messages": len(self.messages), "memories": len(self.memories),
                "summaries": len(self.summaries)}


def _chunks(ids: Sequence[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(ids), size):
        yield list(ids[start:start + size])


def _marks(ids: Sequence[Any]) -> str:
    return ", ".join("?" for _ in ids)


def _rows(con: Connection, sql: str, ids: Sequence[Any],
          before: Sequence[Any] = ()) -> list[tuple]:
    """``sql`` with ``{ids}`` standing for a placeholder list, run chunk by chunk."""
    found: list[tuple] = []
    for chunk in _chunks(ids):
        found += con.execute(sql.replace("{ids}", _marks(chunk)),
                             [*before, *chunk]).fetchall()
    return found


def _delete(con: Connection, table: str, column: str, ids: Sequence[Any]) -> None:
    for chunk in _chunks(ids):  # table and column: our constants
        con.execute(f"DELETE FROM {table} WHERE {column} IN ({_marks(chunk)})", chunk)


def digest(value: str) -> str:
    """An audit value after a purge: its sha256 (hex), not its text."""
    return json.dumps({"sha256": hashlib.sha256(value.encode()).hexdigest()})


def is_digest(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"sha256"}


def _json(text: str | None) -> Any:
    """An audit value as stored (JSON text; an imported one may be anything)."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


class PurgeSql(SqlRows):
    """``purge``: a user's, a session's or one message's text removed for good."""

    _user_id: str  # the acting user (SqlStore.as_user): only their data is purged

    def purge(self, session_id: str | None = None,
              message_id: str | None = None, dry_run: bool = False) -> dict[str, int]:
        user_id = self._user_id
        check_id(user_id, "the user id")
        if session_id is not None and message_id is not None:
            raise StoreError("purge a user, a session or a message: not a session and a "
                             "message at once")
        if self.engine.in_transaction:
            # The file is scrubbed after COMMIT: inside a caller's batch it cannot be.
            raise StoreError("a purge cannot run inside a batch (store.batch())")
        indexes = self.search_index()
        if not dry_run and session_id is None and message_id is None:
            indexes.forget(user_id)  # everything of the user goes: nothing to keep
        elif not dry_run:
            with self._connection() as con:
                indexes.before_removal(con, user_id)
        with self._transaction() as con:
            # A dead process's turns in flight become runs first: purged with the rest
            # (its file is deleted after COMMIT), never kept again after the purge.
            after_commit = recover(con, self.engine)
            plan = self._plan(con, user_id, session_id, message_id)
            if dry_run:
                return plan.counts()
            counts = plan.counts()
            if not plan.done_before:
                counts.update(self._apply(con, plan))
                self._event(con, plan.scope, plan.key, user_id,
                            session_id if plan.scope != "user" else None, "purge", None,
                            counts, "user")
                self.engine.recent_runs.clear()
        after_commit()
        if not plan.done_before:
            # The user's index, caught up and written again without the purged texts'
            # terms, before the file is scrubbed.
            with self._connection() as con:
                indexes.after_removal(con, user_id, plan.messages,
                                      [*plan.runs, *plan.source_runs], plan.memories,
                                      [summary_target(*s) for s in plan.summaries])
        if plan.scope == "user" and self.engine.journal is not None:
            # Their lines in the files of turns in flight this process can read go too
            # (a live process's own still-unstored turns: stored by it, then purgeable).
            self.engine.journal.drop_user(user_id)
        return self._scrubbed(counts)

    def _scrubbed(self, counts: dict[str, int]) -> dict[str, int]:
        try:
            self.engine.scrub()
        except Exception as exc:  # noqa: BLE001 (each engine's own error types)
            raise StoreError(
                f"The purge is done (the rows are deleted), but the database files could "
                f"not be rewritten without their bytes ({type(exc).__name__}: {exc}). Run "
                "the same purge again when the database is free: it scrubs the files."
            ) from None
        return counts

    # --- what goes ------------------------------------------------------------
    def _plan(self, con: Connection, user_id: str, session_id: str | None,
              message_id: str | None) -> Plan:
        if message_id is not None:
            row = con.execute("SELECT session_id, run_id, content FROM messages "
                              "WHERE message_id = ?", [message_id]).fetchone()
            if row is None:
                return self._purged_before(con, user_id, "message", message_id)
            plan = Plan(user_id, "message", message_id)
            self._check_owner(con, row[0], user_id)
            self.engine.lock_session(con, row[0])  # PostgreSQL: no run lands meanwhile
            plan.messages = [message_id]
            plan.source_runs = [row[1]]
            plan.texts.add(row[2] or "")
        elif session_id is not None:
            plan = Plan(user_id, "session", session_id)
            if con.execute("SELECT 1 FROM sessions WHERE session_id = ?",
                           [session_id]).fetchone() is None:
                return self._purged_before(con, user_id, "session", session_id)
            self._check_owner(con, session_id, user_id)
            plan.sessions = [session_id]
        else:
            plan = Plan(user_id, "user", user_id)
            plan.sessions = [r[0] for r in con.execute(
                "SELECT session_id FROM sessions WHERE user_id = ? ORDER BY session_id",
                [user_id]).fetchall()]
        for session in plan.sessions:
            self.engine.lock_session(con, session)  # PostgreSQL: no run lands meanwhile
        if plan.sessions:
            plan.runs = [r[0] for r in _rows(
                con, "SELECT run_id FROM runs WHERE session_id IN ({ids})", plan.sessions)]
            plan.source_runs = list(plan.runs)
            found = _rows(con, "SELECT message_id, content FROM messages "
                               "WHERE session_id IN ({ids})", plan.sessions)
            plan.messages = [r[0] for r in found]
            plan.texts |= {r[1] for r in found if r[1]}
        if plan.scope == "user":
            # By author, wherever the text landed: runs this user wrote into sessions
            # that are not theirs (nobody's, or stored before ownership was checked).
            mine = set(plan.sessions)
            elsewhere = [r for r in con.execute(
                "SELECT run_id, session_id FROM runs WHERE user_id = ?", [user_id]).fetchall()
                if r[1] not in mine]
            for session in sorted({r[1] for r in elsewhere}):
                self.engine.lock_session(con, session)
            runs = [r[0] for r in elsewhere]
            plan.runs += runs
            plan.source_runs += runs
            found = _rows(con, "SELECT message_id, content FROM messages "
                               "WHERE run_id IN ({ids})", runs)
            plan.messages += [r[0] for r in found]
            plan.texts |= {r[1] for r in found if r[1]}
        plan.memories = self._derived_memories(con, plan, row if message_id else None)
        plan.summaries = self._derived_summaries(con, plan)
        self._gather_texts(con, plan)
        return plan

    @staticmethod
    def _purged_before(con: Connection, user_id: str, scope: str, key: str) -> Plan:
        """A message or session that is not there: purged before by this user (its files
        are scrubbed again: how a purge whose scrub failed is finished), or unknown."""
        if con.execute("SELECT 1 FROM memory_events WHERE action = 'purge' AND target = ? "
                       "AND target_id = ? AND user_id = ?",
                       [scope, key, user_id]).fetchone() is None:
            raise StoreError(f"{scope} {key!r} does not exist")
        return Plan(user_id, scope, key, done_before=True)

    @staticmethod
    def _check_owner(con: Connection, session_id: str, user_id: str) -> None:
        # A user purges only their own data: a session of nobody (stored without a
        # user) is not theirs either.
        row = con.execute("SELECT user_id FROM sessions WHERE session_id = ?",
                          [session_id]).fetchone()
        if row is None:
            raise StoreError(f"session {session_id!r} does not exist")
        if row[0] != user_id:
            raise StoreError(f"session {session_id!r} does not belong to user {user_id!r}: "
                             "a user purges only their own sessions and messages")

    @staticmethod
    def _derived_memories(con: Connection, plan: Plan, message: tuple | None) -> list[str]:
        """The user's memories to purge. A user purge takes all of them. Otherwise the
        ones whose provenance names a purged run, and, of those stored before provenance
        was recorded (no provenance row), the ones made in a purged session or (one
        message) made in its session from that message's run's user text."""
        if plan.scope == "user":
            return [r[0] for r in con.execute(
                "SELECT memory_id FROM memories WHERE user_id = ?", [plan.user_id]).fetchall()]
        derived = provenance.targets_of_runs(con, provenance.MEMORY, plan.source_runs)
        mine = con.execute("SELECT memory_id, session_id, input FROM memories "
                           "WHERE user_id = ?", [plan.user_id]).fetchall()
        known = provenance.with_provenance(con, provenance.MEMORY, [r[0] for r in mine])
        if message is not None:
            session, run_id = message[0], message[1]
            inputs = {r[0] for r in con.execute(
                "SELECT content FROM messages WHERE run_id = ? AND role = 'user'",
                [run_id]).fetchall()} | {message[2]}
            unknown = {r[0] for r in mine if r[1] == session and r[2] in inputs}
        else:
            unknown = {r[0] for r in mine if r[1] in plan.sessions}
        return sorted(r[0] for r in mine
                      if r[0] in derived or (r[0] not in known and r[0] in unknown))

    @staticmethod
    def _derived_summaries(con: Connection, plan: Plan) -> list[tuple[str, int]]:
        """Summary versions to purge: every version of a purged session; and the versions
        derived from a purged run: folded it in (provenance), or built on a version that
        did (``based_on``), or, stored before provenance, cover it (``through_run_seq``
        at or past its seq: an incremental summary carries every run before it)."""
        found: set[tuple[str, int]] = set(_rows(
            con, "SELECT session_id, version FROM summaries WHERE session_id IN ({ids})",
            plan.sessions))
        direct = provenance.targets_of_runs(con, provenance.SUMMARY, plan.source_runs)
        sessions = {target.rpartition("#")[0] for target in direct}
        seqs = dict(_rows(con, "SELECT session_id, min(seq) FROM runs WHERE run_id IN ({ids}) "
                               "GROUP BY session_id", plan.source_runs))
        for session in (sessions | set(seqs)) - set(plan.sessions):
            versions = con.execute("SELECT version, based_on, through_run_seq FROM summaries "
                                   "WHERE session_id = ? ORDER BY version",
                                   [session]).fetchall()
            known = provenance.with_provenance(
                con, provenance.SUMMARY, [summary_target(session, v[0]) for v in versions])
            gone: set[int] = set()
            for version, based_on, through in versions:
                target = summary_target(session, version)
                if (target in direct or based_on in gone or (
                        target not in known and session in seqs
                        and through >= seqs[session])):
                    gone.add(version)
            found |= {(session, v) for v in gone}
        return sorted(found)

    def _gather_texts(self, con: Connection, plan: Plan) -> None:
        """Every text the purged rows held (their earlier versions, from the audit
        trail, too): what must leave the stored requests of the runs that remain."""
        plan.texts |= {r[0] for r in _rows(
            con, "SELECT memory FROM memories WHERE memory_id IN ({ids})", plan.memories)}
        decode = self.engine.dialect.decode_list
        for session, version in plan.summaries:
            row = con.execute("SELECT summary, topics FROM summaries WHERE session_id = ? "
                              "AND version = ?", [session, version]).fetchone()
            # A summary's topics reach the prompt too, joined: "(topics: a, b)".
            topics = [str(t) for t in decode(row[1])]
            plan.texts |= {row[0], ", ".join(topics), *topics}
        targets = plan.messages + plan.memories + [summary_target(*s) for s in plan.summaries]
        for old, new in _rows(con, "SELECT old, new FROM memory_events "
                                   "WHERE target_id IN ({ids})", targets):
            for value in (old, new):
                data = _json(value)
                if isinstance(data, dict):
                    plan.texts |= {v for k, v in data.items()
                                   if k in ("content", "memory", "summary") and
                                   isinstance(v, str)}
        plan.texts = {t for t in plan.texts if t and t.strip()}

    # --- removing it ----------------------------------------------------------
    def _apply(self, con: Connection, plan: Plan) -> dict[str, int]:
        summary_ids = [summary_target(*s) for s in plan.summaries]
        hashed = self._hash_events(con, plan, summary_ids)
        if plan.runs:
            # The ledger keeps the numbers of each purged run, not its text or error.
            for chunk in _chunks(plan.runs):
                rows = con.execute(
                    "SELECT run_id, model, session_id, user_id, input_tokens, output_tokens, "
                    f"latency_ms, status, created_at FROM runs WHERE run_id IN "
                    f"({_marks(chunk)})", chunk).fetchall()
                for run_id, model, session, user, tin, tout, ms, status, at in rows:
                    con.execute("INSERT INTO model_calls VALUES (?, 'chat', ?, ?, ?, ?, ?, "
                                "?, ?, ?, ?)",
                                [new_id(), model or "", session, user, run_id, tin, tout, ms,
                                 status == "ok", at])
        doc_ids = plan.messages + plan.memories + summary_ids
        # The user's index snapshots hold the purged texts' terms: they go now (this
        # process writes its copy again without those, after COMMIT), and the user's
        # epoch is bumped: every other process drops its copy.
        _delete(con, "search_docs", "doc_id", doc_ids)
        self.search_index().snapshots.delete_user(con, plan.user_id)
        term_index.bump(con, plan.user_id, epoch=True)
        _delete(con, "provenance", "target_id", plan.memories + summary_ids)
        _delete(con, "provenance", "run_id", plan.runs)
        _delete(con, "messages", "message_id", plan.messages)
        _delete(con, "memories", "memory_id", plan.memories)
        for session, version in plan.summaries:
            con.execute("DELETE FROM summaries WHERE session_id = ? AND version = ?",
                        [session, version])
        _delete(con, "runs", "run_id", plan.runs)
        _delete(con, "sessions", "session_id", plan.sessions)
        contexts = self._scrub_requests(con, plan)  # after: it compares with what remains
        return {"events hashed": hashed, **contexts}

    @staticmethod
    def _hash_events(con: Connection, plan: Plan, summary_ids: list[str]) -> int:
        """The audit trail of what is purged keeps a sha256 of each old / new value."""
        targets = plan.messages + plan.memories + summary_ids + plan.sessions
        # Earlier purges' own events hold counts only: they stay readable.
        select = "SELECT event_id, old, new FROM memory_events WHERE action <> 'purge' AND "
        rows = _rows(con, select + "target_id IN ({ids})", targets)
        if plan.sessions:
            rows += _rows(con, select + "session_id IN ({ids})", plan.sessions)
        if plan.scope == "user":
            rows += con.execute(select + "user_id = ?", [plan.user_id]).fetchall()
        done = 0
        for event_id, old, new in dict((r[0], r) for r in rows).values():
            if all(v is None or is_digest(_json(v)) for v in (old, new)):
                continue
            con.execute("UPDATE memory_events SET old = ?, new = ? WHERE event_id = ?",
                        [None if old is None else digest(old),
                         None if new is None else digest(new), event_id])
            done += 1
        return done

    def _scrub_requests(self, con: Connection, plan: Plan) -> dict[str, int]:
        """The purged runs' stored requests go; the user's remaining ones that quoted a
        purged text get a copy of that part with ``[purged]`` instead (a part is shared
        by hash with other runs, maybe other users' identical ones: never changed in
        place); parts nobody refers to any more are deleted."""
        self.engine.lock_session(con, "request_parts")  # as contexts.write does
        candidates: set[str] = set()
        for (parts,) in _rows(con, "SELECT parts FROM run_contexts WHERE run_id IN ({ids})",
                              plan.runs):
            candidates |= set(json.loads(parts))
        _delete(con, "run_contexts", "run_id", plan.runs)
        remaining = con.execute(
            "SELECT run_id, parts, recalled FROM run_contexts WHERE session_id IN "
            "(SELECT session_id FROM sessions WHERE user_id = ?)", [plan.user_id]).fetchall()
        needles = _needles(plan.texts - _remaining_texts(con, plan.user_id))
        # A text is quoted cut only where a request recalled a purged run, or in the
        # purged message's own run (an oversize message is sent cut): only those are
        # searched for cuts (elsewhere a shared stretch is the user's own boilerplate).
        sources = set(plan.source_runs)
        windows = _cut_windows(needles) if remaining else set()
        bodies: dict[tuple[str, bool], str | None] = {}
        rewritten = 0
        for run_id, parts, recalled in remaining:
            hashes = json.loads(parts)
            cut = run_id in sources or not sources.isdisjoint(_recalled_runs(recalled))
            new_hashes = []
            for h in hashes:
                if (h, cut) not in bodies:
                    row = con.execute("SELECT body FROM request_parts WHERE part_hash = ?",
                                      [h]).fetchone()
                    bodies[h, cut] = (None if row is None else
                                      _redacted(row[0], needles, windows if cut else set()))
                    if bodies[h, cut] is not None:
                        candidates.add(h)
                body = bodies[h, cut]
                if body is None:
                    new_hashes.append(h)
                    continue
                new_hash = hashlib.sha256(body.encode()).hexdigest()
                if con.execute("SELECT 1 FROM request_parts WHERE part_hash = ?",
                               [new_hash]).fetchone() is None:
                    con.execute("INSERT INTO request_parts VALUES (?, ?)", [new_hash, body])
                new_hashes.append(new_hash)
            if new_hashes != hashes:
                con.execute("UPDATE run_contexts SET parts = ? WHERE run_id = ?",
                            [json.dumps(new_hashes), run_id])
                rewritten += 1
        unused = sorted(candidates - _still_used(con, candidates))
        _delete(con, "request_parts", "part_hash", unused)
        return {"requests rewritten": rewritten, "request parts deleted": len(unused)}


def _recalled_runs(recalled: str | None) -> set[str]:
    """The run ids a stored request recalled (``run_contexts.recalled``; an imported
    value may be anything: unreadable is none)."""
    data = _json(recalled)
    return {r["run_id"] for r in data if isinstance(r, dict) and isinstance(r.get("run_id"), str)
            } if isinstance(data, list) else set()


def _remaining_texts(con: Connection, user_id: str) -> set[str]:
    """The user's texts that are still stored (after the deletes): a purged text that is
    also one of them ("thanks!" in another session) is theirs to keep, and stays in the
    stored requests that quote it."""
    mine = "SELECT session_id FROM sessions WHERE user_id = ?"
    found = {r[0] for r in con.execute(
        f"SELECT DISTINCT content FROM messages WHERE session_id IN ({mine}) "
        "AND content IS NOT NULL", [user_id]).fetchall()}
    found |= {r[0] for r in con.execute(
        "SELECT DISTINCT memory FROM memories WHERE user_id = ?", [user_id]).fetchall()}
    found |= {r[0] for r in con.execute(
        f"SELECT DISTINCT summary FROM summaries WHERE session_id IN ({mine})",
        [user_id]).fetchall()}
    return found


def _needles(texts: Iterable[str]) -> list[tuple[str, bool]]:
    """Each purged text, and whether it is matched only as a message's whole content.
    Longest first."""
    # The system prompt carries a text with its blocks' tags defused: that form too.
    forms = {form for t in texts for form in (t, without_prompt_tags(t))}
    return sorted(((t, len(t) < MIN_SUBSTRING_CHARS) for t in forms), key=lambda n: -len(n[0]))


def _redacted(body: str, needles: list[tuple[str, bool]],
              windows: set[int] = frozenset()) -> str | None:
    """``body`` (a stored part: one message as JSON) with each purged text (and each cut
    of a long one: ``windows``) replaced by ``[purged]``; None if it holds none. The
    strings are compared decoded, so a replacement never splits a JSON escape."""
    message = json.loads(body)
    redacted = _redacted_value(message, needles, windows, None)
    return None if redacted == message else part_json(redacted)


def _redacted_value(value: Any, needles: list[tuple[str, bool]], windows: set[int],
                    key: str | None) -> Any:
    if isinstance(value, str):
        out = value
        for needle, whole_only in needles:
            if whole_only:
                if key == "content" and out == needle:
                    out = PURGED
            elif needle in out:
                out = out.replace(needle, PURGED)
        return _without_cuts(out, windows)
    if isinstance(value, list):
        return [_redacted_value(v, needles, windows, key) for v in value]
    if isinstance(value, dict):
        return {k: _redacted_value(v, needles, windows, k) for k, v in value.items()}
    return value


def _cut_windows(needles: list[tuple[str, bool]]) -> set[int]:
    """The hash of every FRAGMENT_CHARS-long stretch of each purged text long enough to
    be quoted cut."""
    return {hash(needle[i:i + FRAGMENT_CHARS]) for needle, _ in needles
            if len(needle) >= 2 * FRAGMENT_CHARS
            for i in range(len(needle) - FRAGMENT_CHARS + 1)}


def _without_cuts(body: str, windows: set[int]) -> str:
    """``body`` with each stretch of FRAGMENT_CHARS or more characters that is also in a
    purged text replaced by ``[purged]`` (a stretch is covered by its windows, however
    repetitive the text)."""
    spans: list[list[int]] = []
    for i in range(len(body) - FRAGMENT_CHARS + 1) if windows else ():
        if hash(body[i:i + FRAGMENT_CHARS]) in windows:
            if spans and i <= spans[-1][1]:
                spans[-1][1] = i + FRAGMENT_CHARS
            else:
                spans.append([i, i + FRAGMENT_CHARS])
    for start, end in reversed(spans):
        body = body[:start] + PURGED + body[end:]
    return body


def _still_used(con: Connection, hashes: set[str]) -> set[str]:
    """Those of ``hashes`` some stored request still refers to (one pass, in pages)."""
    used: set[str] = set()
    if not hashes:
        return used
    last = ""
    while True:
        page = con.execute("SELECT run_id, parts FROM run_contexts WHERE run_id > ? "
                           "ORDER BY run_id LIMIT 5000", [last]).fetchall()
        if not page:
            return used
        for _, parts in page:
            used |= hashes.intersection(json.loads(parts))
        last = page[-1][0]
