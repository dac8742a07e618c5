"""Each user's search index, in this process's memory, kept current from SQL.

Per user there are four partitions (``bm25.Partition``), each with its own statistics:
``messages`` (one text per message: ``search()``), ``exchanges`` (a run's user
messages and replies as one text: recall), ``memories`` and ``summaries``. A partition
is loaded when first asked for: from its snapshot in ``search_snapshots`` (a restart
loads it in well under a second) or, without one, built from the stored texts in one
pass; then, at every query, it catches up with what changed since its revision
(``search_docs.rev > partition.rev``, ``sql/term_index.py``) and, where runs are
numbered as they are appended (DuckDB), with the runs numbered after its own
(``runs.search_seq > partition.seq``). Another process's writes (SQLite, DuckDB after a
handover, every kernel of a shared PostgreSQL) are seen the same way; this process's
own are given to it as they commit (``wrote``), so a turn reads nothing back.

A snapshot is written when a partition is built with at least ``SNAPSHOT_MIN_DOCS``
texts, and again (compacted: dead postings and unused terms dropped) when what was
added since reaches a fifth of it. A purge (or a session deleted) deletes the texts'
rows, the user's snapshots, and bumps the user's epoch: every process drops its copy;
the process that purged writes its copy again, without the purged texts' terms, before
the file is scrubbed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import mmap
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..files import open_private, private_folder
from ..text_terms import Analyzer, language_setting
from .bm25 import DENSE_SHARE, DENSE_SHARE_MESSAGES, Base, Partition, build_base
from .engine import Connection, Engine
from .term_index import SUMMARY_DOC_ID, first_epoch

if TYPE_CHECKING:
    import numpy as np
else:  # numpy at its first use (lazy_numpy.py): a first turn needs none
    from . import lazy_numpy as np

log = logging.getLogger(__name__)

PARTS = ("messages", "exchanges", "memories", "summaries")
MESSAGE_PARTS = ("messages", "exchanges")  # built from the messages, in one pass
SOURCE_KIND = {"messages": "messages", "exchanges": "messages", "memories": "memories",
               "summaries": "summaries"}
EXCHANGE_ROLES = ("user", "assistant")
SNAPSHOT_MIN_DOCS = 2000  # fewer texts are rebuilt from SQL faster than a snapshot pays
COMPACT_SHARE = 0.2  # texts added since the base, as a share of it, that make a new one
CHUNK_BYTES = 8 << 20  # a snapshot is stored in rows of at most 8 MB
_IDS = 500  # ids per IN list


def index_stamp(engine: Engine) -> tuple[int, int]:
    """What must be the same for a partition found current to still be: the generation
    (another process may have written) and this process's commits, but those that only
    recorded a model call (the ledger has no text in the index: the memory job's row
    came between a turn's commit and the next turn's search, which then read the
    user's revision again, ~0.7 ms on DuckDB)."""
    return engine.generation, sum(n for writes, n in engine.commits_of.items()
                                  if writes != "ledger")


def _tuned(partition: Partition, part: str) -> Partition:
    """Recall's exchanges, searched at every turn, add their common words as dense
    vectors (bm25.DENSE_SHARE)."""
    partition.dense_share = {"exchanges": DENSE_SHARE,
                             "messages": DENSE_SHARE_MESSAGES}.get(part)
    return partition


def _marks(ids: Sequence[Any]) -> str:
    return ", ".join("?" for _ in ids)


def _chunks(ids: Sequence[Any]) -> list[list[Any]]:
    return [list(ids[i:i + _IDS]) for i in range(0, len(ids), _IDS)]


class UserIndex:
    """One user's partitions, valid for one epoch."""

    def __init__(self, user_id: str, epoch: int) -> None:
        self.user_id = user_id
        self.epoch = epoch
        self.parts: dict[str, Partition] = {}
        # The engine's stamp when the user's (revision, epoch) were last read, and them:
        # a turn's second search (recall, then memories) reads them no second time.
        self.checked: object = None
        self.known: tuple[int, int] = (-1, epoch)


class SearchIndexes:
    """Every user's index of one database, in this process (one per engine)."""

    def __init__(self, engine: Engine, language: str | None = None) -> None:
        self.engine = engine
        self.analyzer = Analyzer(language_setting(language))
        self.snapshots = snapshots_of(engine)
        self._users: dict[str, UserIndex] = {}
        self._lock = threading.RLock()  # the kernel thread and the memory worker
        # Snapshots to store once the lock is let go: (base, meta: its user, part, epoch).
        # Storing takes the engine's connection, which a thread holding it may be
        # waiting for this lock with: never taken under it (tests/test_review_numbered.py).
        self._unsaved: list[tuple[Base, dict[str, Any]]] = []

    # --- reading ----------------------------------------------------------------
    def partition(self, con: Connection, user_id: str, part: str) -> Partition:
        """``user_id``'s partition ``part``, current with what is committed.

        Nothing is read when nothing can have been written since the partition was last
        found current: the same generation (DuckDB: the file held since; SQLite: no other
        connection committed) and no commit of this process. Inside a transaction the
        partition is used as it is (``_for_transaction``): what the transaction wrote may
        still roll back (and its revisions with it)."""
        engine = self.engine
        if engine.in_transaction:
            with self._lock:
                return self._for_transaction(con, user_id, part)
        if engine.reading_takes_connection():
            # A side reader of a file let go of would reopen it under the index lock
            # (the lock order forbids it: a thread holding the connection may be waiting
            # for that lock), and the generation, not yet bumped, would make a partition
            # look current: reopened first (tests/test_review_numbered2.py).
            with engine.connection():
                return self.partition(con, user_id, part)
        known = self._users.get(user_id)
        if (engine.dialect.numbered_appends and (known is None or known.epoch == 0)
                and revision_row(con, user_id) is None):
            self._make_revision(user_id)  # (a transaction: before the lock, never under it)
        try:
            with self._lock:
                return self._current(con, user_id, part)
        finally:
            self._flush_saves()

    def _for_transaction(self, con: Connection, user_id: str, part: str) -> Partition:
        """Inside a caller's transaction: a partition loaded is used as it is; one not
        loaded is built from what the transaction sees, for it only (kept, or stored,
        its uncommitted texts and revision would outlive a rollback)."""
        index = self._users.get(user_id)
        found = index.parts.get(part) if index is not None else None
        if found is None:
            found = self._build(con, user_id, part, revision(con, user_id)[0])[part]
        return _tuned(found, part)

    def _current(self, con: Connection, user_id: str, part: str) -> Partition:
        """``partition``'s work outside a transaction, under the lock."""
        engine = self.engine
        index = self._users.get(user_id)
        found = index.parts.get(part) if index is not None else None
        stamp = index_stamp(engine)
        if found is not None and found.checked == stamp:
            return _tuned(found, part)
        if index is not None and index.checked == stamp:
            rev, epoch = index.known  # read for another partition since (~0.7 ms)
        else:
            rev, epoch = revision(con, user_id)
        index = self._users.get(user_id)
        if index is None or index.epoch != epoch:
            index = self._users[user_id] = UserIndex(user_id, epoch)
        index.checked, index.known = stamp, (rev, epoch)
        found = index.parts.get(part)
        if found is None:
            self._load(con, index, part, rev)
            found = index.parts[part]
        if found.rev < rev:
            self._catch_up(con, index, part, rev)
            found = index.parts[part]
        if part in MESSAGE_PARTS and engine.dialect.numbered_appends:
            self._catch_up_appends(con, index, part)
            found = index.parts[part]
        found.checked = stamp
        return _tuned(found, part)

    def wrote(self, user_id: str, rev: int | None,
              docs: Sequence[tuple[str, str, str | None, str | None, str | None, str]],
              stamp: tuple[int, int] | None = None, wait: bool | None = None,
              appended: int | None = None) -> None:
        """This process committed these texts of ``user_id`` (id, kind, session, run, role,
        text), new, as revision ``rev`` or (``appended``) in runs numbered up to it,
        in one COMMIT. ``stamp``: the index stamp right after that COMMIT (None: now, the
        caller still holding the connection, so no other commit came in between). Each
        loaded partition that was current just before takes them without reading SQL
        again; one that was behind catches up at its next search as usual."""
        # Not waited for when the caller holds the engine's mutex (``wait`` None: unless
        # this thread holds the connection): a search on the side reader
        # (DuckDbEngine.reading) holds this lock while it may want that mutex (to save a
        # snapshot, or to reopen a file let go of): each waited for the other until the
        # lock timeout (tests/test_review_turn_reads.py). Busy, the partitions are left
        # behind: the commit changed the stamp, so the next search reads it from SQL (a
        # skipped summary made the next run's texts be read back too: up to 5 ms).
        # Writers so call it after letting the mutex go, with the ``stamp`` they read
        # right after their COMMIT: a commit that came in between shows as a new stamp.
        if rev is None and appended is None:
            return  # nothing the index holds (a run without text, on a rows engine)
        if stamp is None:
            stamp = index_stamp(self.engine)
        if wait is None:
            wait = not self.engine.holds_connection()
        if not self._lock.acquire(blocking=wait):
            return
        try:
            self._learn(user_id, rev, docs, stamp, appended)
        finally:
            self._lock.release()
            self._flush_saves()

    def _learn(self, user_id: str, rev: int | None,
               docs: Sequence[tuple[str, str, str | None, str | None, str | None, str]],
               stamp: tuple[int, int], appended: int | None = None) -> None:
        index = self._users.get(user_id)
        if index is None:
            return
        # Current just before the COMMIT: by revision, one before this one; numbered runs
        # change no revision, so by the stamp (a COMMIT adds one to it). A message
        # partition where runs are numbered is current by the stamp only, whatever the
        # revision: one left behind by a numbered run (another user's COMMIT came
        # between, or a caller's transaction) is at the revision before too.
        before = (stamp[0], stamp[1] - 1)
        if rev is None and index.checked == before:
            index.checked = stamp  # its (revision, epoch) are still those known
        numbered = self.engine.dialect.numbered_appends
        terms = self.analyzer.terms
        for part, partition in index.parts.items():
            by_stamp = rev is None or (numbered and part in MESSAGE_PARTS)
            if (rev is not None and partition.rev != rev - 1) or (
                    by_stamp and partition.checked != before):
                continue
            kind = SOURCE_KIND[part]
            mine = [d for d in docs if d[1] == kind]
            if part == "exchanges":
                by_run: dict[str, list[tuple]] = {}
                for doc in mine:
                    if doc[4] in EXCHANGE_ROLES and doc[3] is not None:
                        by_run.setdefault(doc[3], []).append(doc)
                for run_id, texts in by_run.items():
                    partition.upsert(run_id, texts[0][2],
                                     [t for d in texts for t in terms(d[5])])
            elif part == "messages":
                for doc_id, _, session_id, _, _, text in mine:
                    partition.upsert(doc_id, session_id, *self.analyzer.text_terms(text))
            else:
                for doc_id, _, session_id, _, _, text in mine:
                    partition.upsert(doc_id, session_id, terms(text))
            if rev is not None:
                partition.rev = rev
            if appended is not None and part in MESSAGE_PARTS:
                partition.seq = max(partition.seq, appended)
            partition.checked = stamp
            self._compact_if_due(index, part)

    def _make_revision(self, user_id: str) -> None:
        """Make the user's revision row where it may be missing though they have texts
        (numbered runs write none, sql/term_index.py). Its epoch is chosen before any
        partition of theirs is built: made later (by their first memory), a new epoch
        would drop what was built and snapshotted under none."""
        try:
            with self.engine.transaction() as tx:
                tx.execute("INSERT INTO search_revs (user_id, rev, epoch) VALUES (?, 0, ?) "
                           "ON CONFLICT DO NOTHING", [user_id, first_epoch()])
        except Exception as exc:  # noqa: BLE001 (a read-only file: searched as it is)
            log.debug("search revision of a user not made: %s", exc)

    def users(self, con: Connection) -> list[str]:
        """Every user with a revision or a session (numbered runs make no revision)."""
        return [r[0] for r in con.execute(
            "SELECT user_id FROM search_revs UNION SELECT user_id FROM sessions "
            "WHERE user_id IS NOT NULL ORDER BY user_id").fetchall()]

    def forget(self, user_id: str | None = None) -> None:
        """Drop what this process holds (of one user, or all)."""
        with self._lock:
            if user_id is None:
                self._users.clear()
            else:
                self._users.pop(user_id, None)

    # --- loading ----------------------------------------------------------------
    def _load(self, con: Connection, index: UserIndex, part: str, rev: int) -> None:
        loaded = self._snapshot(con, index, part, rev)
        if loaded is not None:
            index.parts[part] = loaded
            return
        built = self._build(con, index.user_id, part, rev)
        for name, partition in built.items():
            if name not in index.parts or name == part:
                index.parts[name] = partition
                if len(partition) >= SNAPSHOT_MIN_DOCS:
                    self._save(index, name, partition)

    def _snapshot(self, con: Connection, index: UserIndex, part: str,
                  rev: int) -> Partition | None:
        try:
            found = self.snapshots.read(con, index.user_id, part)
        except (OSError, ValueError, KeyError) as exc:  # damaged: rebuilt from the texts
            log.debug("search snapshot of %s not read: %s", part, exc)
            return None
        if found is None:
            return None
        base, meta = found
        if (meta.get("user") != index.user_id or meta.get("part") != part
                or meta.get("epoch") != index.epoch or meta.get("analyzer") != self.analyzer.name
                or meta.get("rev", rev + 1) > rev):
            return None
        handed_out = self.engine.dialect.numbers_handed_out
        if meta.get("seq", 0) and handed_out:  # runs the database never numbered: not its
            found_seq = con.execute(handed_out).fetchone()
            if found_seq is None or meta["seq"] > int(found_seq[0] or 0):
                return None
        return Partition(base, int(meta["rev"]), seq=int(meta.get("seq", 0)))

    def _build(self, con: Connection, user_id: str, part: str,
               rev: int) -> dict[str, Partition]:
        """The partition (with ``exchanges`` and ``messages`` both: one pass over the
        messages) from every stored text of the user."""
        if part in MESSAGE_PARTS:
            # The last number first: a run committed meanwhile is read again, never missed.
            seq = last_numbered(con) if self.engine.dialect.numbered_appends else 0
            rows = con.execute(
                "SELECT m.message_id, m.session_id, m.run_id, m.role, m.content "
                "FROM messages m JOIN sessions s ON s.session_id = m.session_id "
                "WHERE s.user_id = ? AND m.deleted_at IS NULL AND m.content IS NOT NULL "
                "ORDER BY m.run_id, m.seq", [user_id]).fetchall()
            built = self._build_messages(rows, rev)
            for partition in built.values():
                partition.seq = seq
            return built
        if part == "memories":
            rows = con.execute(
                "SELECT memory_id, session_id, memory FROM memories "
                "WHERE user_id = ? AND deleted_at IS NULL", [user_id]).fetchall()
        else:
            rows = con.execute(
                f"SELECT {SUMMARY_DOC_ID.replace('session_id', 'x.session_id')}, "
                "x.session_id, x.summary FROM summaries x JOIN sessions s "
                "ON s.session_id = x.session_id WHERE s.user_id = ? "
                "AND x.deleted_at IS NULL", [user_id]).fetchall()
        return {part: self._built([r[0] for r in rows], [r[1] for r in rows],
                                  [r[2] for r in rows], rev)}

    def _built(self, ids: list[str], sessions: list[str | None], texts: list[str | None],
               rev: int) -> Partition:
        tokens = self.analyzer.bulk(texts)
        return Partition(build_base(ids, *_sessions(sessions), tokens.vocab, tokens.docs,
                                    tokens.terms), rev)

    def _build_messages(self, rows: list[tuple], rev: int) -> dict[str, Partition]:
        """Both message partitions, the texts split once: ``messages`` (one text each)
        and ``exchanges`` (a run's user messages and replies as one text)."""
        # Stopwords have postings here (a search for one: a name like "Will", a quoted
        # phrase), never in a length; the other partitions have none.
        docs, terms, vocab, content, lengths = self.analyzer.bulk([r[4] for r in rows],
                                                                  stop=True)
        messages = Partition(build_base([r[0] for r in rows], *_sessions([r[1] for r in rows]),
                                        vocab, docs, terms, length=lengths), rev)
        runs: dict[str, int] = {}
        run_session: dict[str, str | None] = {}
        run_of = np.full(len(rows), -1, np.int64)
        for i, (_, session, run_id, role, _) in enumerate(rows):
            if role in EXCHANGE_ROLES:
                run_of[i] = runs.setdefault(run_id, len(runs))
                run_session.setdefault(run_id, session)
        keep = (run_of[docs] >= 0) & content
        exchanges = Partition(build_base(list(runs), *_sessions(list(run_session.values())),
                                         vocab, run_of[docs[keep]], terms[keep]), rev)
        return {"messages": messages, "exchanges": exchanges}

    # --- catching up --------------------------------------------------------------
    def _catch_up(self, con: Connection, index: UserIndex, part: str, rev: int) -> None:
        partition = index.parts[part]
        changed = con.execute(
            "SELECT doc_id, run_id, rev FROM search_docs WHERE user_id = ? AND kind = ? "
            "AND rev > ?", [index.user_id, SOURCE_KIND[part], partition.rev]).fetchall()
        newest = max([rev, *(r[2] for r in changed)])
        if part in MESSAGE_PARTS:
            self._messages_changed(con, partition, part, changed)
        elif part == "memories":
            self._texts_changed(con, partition, [r[0] for r in changed],
                                "SELECT memory_id, session_id, memory FROM memories "
                                "WHERE memory_id IN ({}) AND deleted_at IS NULL "
                                "AND user_id = ?", [index.user_id])
        else:
            self._texts_changed(con, partition, [r[0] for r in changed],
                                f"SELECT {SUMMARY_DOC_ID}, session_id, summary FROM "
                                f"summaries WHERE {SUMMARY_DOC_ID} IN ({{}}) "
                                "AND deleted_at IS NULL", [])
        partition.rev = newest
        self._compact_if_due(index, part)

    def _catch_up_appends(self, con: Connection, index: UserIndex, part: str) -> None:
        """The runs of the user numbered after the partition's last (sql/term_index.py):
        their texts as one read (0.6 ms at 1M messages when there are none: DuckDB skips
        the older row groups by their zone maps, the numbers growing with the rows).
        A run is its writer's (``runs.user_id``: the session's owner, checked when it was
        written), as a text's index row names its writer; joined to the sessions instead,
        the same read took 2.2 ms."""
        partition = index.parts[part]
        runs = con.execute(
            "SELECT run_id, search_seq FROM runs WHERE search_seq > ? AND user_id = ?",
            [partition.seq, index.user_id]).fetchall()
        if not runs:
            return
        self._messages_changed(con, partition, part, [(None, r[0]) for r in runs],
                               appended=True)
        partition.seq = max(r[1] for r in runs)
        self._compact_if_due(index, part)

    def _texts_changed(self, con: Connection, partition: Partition, ids: list[str],
                       sql: str, after: list[Any]) -> None:
        found: dict[str, tuple] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            found.update((r[0], r) for r in con.execute(sql.replace("{}", _marks(chunk)),
                                                        [*chunk, *after]).fetchall())
        terms = self.analyzer.terms
        for doc_id in dict.fromkeys(ids):
            row = found.get(doc_id)
            if row is None:
                partition.remove(doc_id)
            else:
                partition.upsert(doc_id, row[1], terms(row[2]))

    def _messages_changed(self, con: Connection, partition: Partition, part: str,
                          changed: list[tuple], appended: bool = False) -> None:
        """``changed``: (message id or None, its run id or None, ...) rows; ``appended``:
        the runs are new, each of their messages with them."""
        runs = list(dict.fromkeys(r[1] for r in changed if r[1] is not None))
        rows: list[tuple] = []
        for chunk in _chunks(runs):
            rows += con.execute(
                "SELECT message_id, session_id, run_id, role, content, deleted_at FROM "
                f"messages WHERE run_id IN ({_marks(chunk)}) ORDER BY run_id, seq",
                chunk).fetchall()
        live = [r for r in rows if r[5] is None and r[4] is not None]
        terms = self.analyzer.terms
        if part == "messages":
            texts = {r[0]: r for r in live}
            ids = [r[0] for r in rows] if appended else [r[0] for r in changed]
            for doc_id in dict.fromkeys(i for i in ids if i is not None):
                row = texts.get(doc_id)
                if row is None:
                    partition.remove(doc_id)
                else:
                    partition.upsert(doc_id, row[1], *self.analyzer.text_terms(row[4]))
            return
        exchanges: dict[str, list[tuple]] = {run: [] for run in runs}
        for row in live:
            if row[3] in EXCHANGE_ROLES:
                exchanges[row[2]].append(row)
        for run_id, messages in exchanges.items():
            if messages:
                partition.upsert(run_id, messages[0][1],
                                 [t for m in messages for t in terms(m[4])])
            else:
                partition.remove(run_id)

    # --- snapshots -----------------------------------------------------------------
    def _compact_if_due(self, index: UserIndex, part: str) -> None:
        """A new base for the partition (and its snapshot) once what was added since the
        last reaches a fifth of it."""
        partition = index.parts[part]
        if partition.extra_docs >= max(SNAPSHOT_MIN_DOCS,
                                       COMPACT_SHARE * len(partition.base.ids)):
            index.parts[part] = fresh = Partition(partition.frozen(), partition.rev,
                                                  seq=partition.seq)
            if len(fresh) >= SNAPSHOT_MIN_DOCS:
                self._save(index, part, fresh)

    def _save(self, index: UserIndex, part: str, partition: Partition) -> None:
        """Store the partition for the next process once the lock is let go, as it is
        now: its base with its weights, the revision and number it includes and the
        user's epoch (read when stored, a text learned meanwhile would be claimed
        without being in it; a purge meanwhile makes the epoch stale: not stored)."""
        base = partition.base
        if base.pw is None or base.w_params is None:
            base.pw, base.w_params = partition.pw, (partition.k1, partition.b,
                                                    partition.floor, partition.w_avgdl)
        meta = {"user": index.user_id, "part": part, "rev": partition.rev,
                "seq": partition.seq, "epoch": index.epoch, "analyzer": self.analyzer.name}
        self._unsaved.append((base, meta))

    def _flush_saves(self) -> None:
        """Store the snapshots waiting, unless this thread still holds the lock or is
        inside a caller's transaction (the save would join it, and roll back with it)."""
        if self._lock._is_owned() or self.engine.in_transaction:  # type: ignore[attr-defined]
            return
        while self._unsaved:
            try:
                base, meta = self._unsaved.pop(0)
            except IndexError:  # another thread took the last one
                return
            self._save_now(base, meta)

    def _save_now(self, base: Base, meta: dict[str, Any]) -> None:
        """Store a partition's base (with its weights) for the next process, if the
        user's epoch is still the one in ``meta``; best effort (a read-only file keeps it
        in memory only)."""
        user_id, epoch, part = meta["user"], meta["epoch"], meta["part"]
        try:
            # In a transaction (holding the write lock): a purge cannot commit between the
            # epoch read here and the snapshot written, which would bring purged text back.
            with self.engine.transaction() as con:
                now = con.execute("SELECT epoch FROM search_revs WHERE user_id = ?"
                                  + self.engine.dialect.lock_row,
                                  [user_id]).fetchone()
                if now is None or now[0] != epoch:
                    return
                self.snapshots.write(con, user_id, part, base, meta)
        except Exception as exc:  # noqa: BLE001 (each engine's own errors; never fails a search)
            log.debug("search snapshot of %s not saved: %s", part, exc)

    # --- purge and session deletes ---------------------------------------------------
    def before_removal(self, con: Connection, user_id: str) -> None:
        """Load the user's snapshotted partitions, to write them again after a purge or a
        session delete without those texts (else the next search rebuilds from every
        text: 20-40 s at 1M messages)."""
        for part in self.snapshots.parts(con, user_id):
            if part in PARTS:
                self.partition(con, user_id, part)

    def after_removal(self, con: Connection, user_id: str, messages: Sequence[str],
                      runs: Sequence[str], memories: Sequence[str],
                      summaries: Sequence[str]) -> None:
        """The texts are deleted for good (their ``search_docs`` rows too, and the user's
        epoch bumped, so other processes start again from a snapshot): take them out of
        this process's copy, catch up, and store it again, compacted."""
        with self._lock:
            index = self._users.get(user_id)
            if index is None:
                return
            rev, epoch = revision(con, user_id)
            gone = [(m, None, 0) for m in messages] + [(None, r, 0) for r in runs]
            for part, partition in index.parts.items():
                if part in MESSAGE_PARTS:
                    self._messages_changed(con, partition, part, gone)
                for doc_id in memories if part == "memories" else \
                        summaries if part == "summaries" else ():
                    partition.remove(doc_id)
                self._catch_up(con, index, part, rev)
            index.epoch = epoch
            self._unsaved = [u for u in self._unsaved if u[1]["user"] != user_id]  # (stale)
            for part, partition in list(index.parts.items()):
                index.parts[part] = fresh = Partition(partition.frozen(), partition.rev,
                                                      seq=partition.seq)
                if len(fresh) >= SNAPSHOT_MIN_DOCS:
                    self._save(index, part, fresh)
        self._flush_saves()  # (this thread holds the connection: stored before a scrub)


class TableSnapshots:
    """Snapshots as rows of ``search_snapshots`` in 8 MB pieces: PostgreSQL (every
    kernel on every machine reads them; a purge deletes them in its transaction and
    VACUUM FULLs the table), and an in-memory database."""

    def read(self, con: Connection, user_id: str, part: str) -> tuple[Base, dict] | None:
        rows = con.execute("SELECT chunk, data FROM search_snapshots WHERE user_id = ? "
                           "AND part = ? ORDER BY chunk", [user_id, part]).fetchall()
        if not rows or [r[0] for r in rows] != list(range(len(rows))):
            return None
        return Base.from_bytes(b"".join(bytes(r[1]) for r in rows))

    def write(self, con: Connection, user_id: str, part: str, base: Base,
              meta: dict) -> None:
        data = base.to_bytes(meta)
        con.execute("DELETE FROM search_snapshots WHERE user_id = ? AND part = ?",
                    [user_id, part])
        for n, at in enumerate(range(0, len(data), CHUNK_BYTES)):
            con.execute("INSERT INTO search_snapshots VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [user_id, part, n, meta["rev"], meta["epoch"], meta["analyzer"],
                         data[at:at + CHUNK_BYTES]])

    def delete_user(self, con: Connection, user_id: str) -> None:
        con.execute("DELETE FROM search_snapshots WHERE user_id = ?", [user_id])

    def parts(self, con: Connection, user_id: str) -> list[str]:
        return [r[0] for r in con.execute(
            "SELECT DISTINCT part FROM search_snapshots WHERE user_id = ?", [user_id]
        ).fetchall()]

    def files(self) -> list[str]:
        return []


class FileSnapshots:
    """Snapshots as files beside a DuckDB or SQLite database (``<db>.search/``, 0700;
    each file 0600), mapped when read: a restart reads only the pages a query touches
    (*measured* at 1M messages, load ~12: 76 MB of exchanges read back from a DuckDB
    BLOB column in 2.9 s, from a SQLite one in 0.75 s, from a file in 0.17 s; mapped,
    at once). Written to a new file, then renamed over the old one; a purge deletes
    the user's files in its transaction and writes them again after COMMIT."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def _path(self, user_id: str, part: str) -> str:
        # The user id is anyone's text: the file is named by its hash (the header holds
        # the id itself, checked when read).
        digest = hashlib.sha256(user_id.encode()).hexdigest()[:32]
        return os.path.join(self.folder, f"{digest}.{part}")

    def read(self, con: Connection, user_id: str, part: str) -> tuple[Base, dict] | None:
        try:
            with open(self._path(user_id, part), "rb") as file:
                mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (FileNotFoundError, ValueError):  # none, or empty
            return None
        return Base.from_bytes(mapped)

    def write(self, con: Connection, user_id: str, part: str, base: Base,
              meta: dict) -> None:
        private_folder(self.folder)
        path = self._path(user_id, part)
        fresh = f"{path}.{os.getpid()}.new"
        with os.fdopen(open_private(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as out:
            base.write(out, meta)
        os.replace(fresh, path)

    def delete_user(self, con: Connection, user_id: str) -> None:
        for part in PARTS:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(user_id, part))

    def parts(self, con: Connection, user_id: str) -> list[str]:
        return [part for part in PARTS if os.path.exists(self._path(user_id, part))]

    def files(self) -> list[str]:
        try:
            return [os.path.join(self.folder, f) for f in sorted(os.listdir(self.folder))]
        except FileNotFoundError:
            return []


def snapshots_of(engine: Engine) -> TableSnapshots | FileSnapshots:
    """Where an engine's snapshots live: files beside a DuckDB or SQLite file, else rows."""
    if engine.dialect.name in ("duckdb", "sqlite") and engine.path:
        return FileSnapshots(engine.path + ".search")
    return TableSnapshots()


def _sessions(sessions: list[str | None]) -> tuple[list[str], Any]:
    """The distinct sessions, and each text's index into them."""
    names: dict[str, int] = {}
    codes = np.fromiter((names.setdefault(s or "", len(names)) for s in sessions), np.int32,
                        count=len(sessions))
    return list(names), codes


def last_numbered(con: Connection) -> int:
    """The number of the last run numbered as it was appended and committed (0: none).
    Not the sequence's (``Dialect.numbers_handed_out``): a number is handed out before
    its run commits, and a build that took it would never read that run."""
    return int(con.execute("SELECT coalesce(max(search_seq), 0) FROM runs").fetchone()[0])


def revision_row(con: Connection, user_id: str) -> tuple[int, int] | None:
    """The user's index revision and epoch as committed (None: no row yet)."""
    row = con.execute("SELECT rev, epoch FROM search_revs WHERE user_id = ?",
                      [user_id]).fetchone()
    return (int(row[0]), int(row[1])) if row is not None else None


def revision(con: Connection, user_id: str) -> tuple[int, int]:
    """The user's index revision and epoch as committed ((0, 0) for a new user)."""
    return revision_row(con, user_id) or (0, 0)
