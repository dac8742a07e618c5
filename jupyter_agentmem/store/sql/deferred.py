"""Runs committed after the turn: the append's transaction on a background thread.

A DuckDB turn spent most of its framework time in ``append_run``: 8-9 statements of
~0.5 ms and a COMMIT of 1.5-1.8 ms with its fdatasync (issue 17). Where one process
holds the file for as long as it writes (DuckDB: the handover lock), a run appended off
the run cache needs nothing from the database to be numbered and checked: its ``seq`` and
its session's owner are the cache's. So ``append_run`` then only

1. writes the whole run (reply, usage, request) to this process's file of turns in flight
   (``store/journal.py``: one ``write``, no fsync; its user message is there already and
   each piece of the reply was written there before it was shown), so a SIGKILL from here
   on loses nothing: the next process to open the file stores it as it was
   (``sql/staged.py``);
2. updates the run cache, so the next turn's history has it;
3. queues it, and returns its seq.

A thread of the engine commits what is queued, in order, many runs in one transaction
when they came faster than it writes, then lets the file of turns in flight go. Every
other use of the database in this process writes what is queued first (the engine's
``connection()``: reads of the history, ``%agent history``, the panel, search, the memory
worker, a purge, a handover to another process, close), so reads are read-your-writes,
and other processes see the run once the thread has committed it (it starts at once:
11 ms after the turn, median, p90 37 ms, on a heavily loaded machine) and this process
has handed the file over, as before (not while a run is queued).

A run appended some other way keeps the synchronous append: inside a caller's
transaction (an import), on a cache miss (the first run of a session in a hold of the
file, where the owner is checked in SQL), a read-only file, a run that was not staged
(nothing would keep it), or a value that cannot be stored (its ``StoreError`` must reach
the caller). Turns that come faster than the commit wait for it at the queue (at most
one transaction behind). *Measured* (bench/bench_peers.py, bench/RESULTS.md, load ~12):
the framework time of a DuckDB turn went from 14-33 ms to 2-4 ms, 0.10-0.12x agno's;
keeping the finished turn as one committed row of an append-only table instead would
cost the turn 1.4 ms (DuckDB's COMMIT and fsync) against 0.08 ms for the line in the
file (bench/bench_deferred.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, NamedTuple

from ...types import Run
from ..base import StoreError
from ..values import check_params
from .engine import Engine
from .rows import CheckedConnection
from .run_cache import copied
from .run_rows import RunWritten, insert_run
from .search_index import index_stamp
from .staged import run_entry, turns_to_keep, unstored_entry

log = logging.getLogger(__name__)
IDLE_EXIT_S = 5.0  # the writer thread ends after this long with nothing queued


class _Queued(NamedTuple):
    run: Run  # a copy: the caller keeps its own
    user_id: str | None
    seq: int
    generation: int
    queued_at: float  # time.monotonic()


def storable(run: Run, user_id: str | None) -> bool:
    """Whether every value of the run can be stored (else the caller must hear why)."""
    try:
        check_params([run.run_id, run.session_id, run.status, run.model, run.error,
                      run.cell_id, user_id, run.input_tokens, run.output_tokens,
                      run.latency_ms])
        for m in run.messages:
            check_params([m.message_id, m.role, m.content, m.name, m.tool_call_id])
    except StoreError:
        return False
    return True


def cached_runs(engine: Engine, session_id: str, n: int, user_id: str) -> list[Run] | None:
    """The last ``n`` runs from the run cache, without waiting for the database (its
    thread may be committing the last run): None when the cache cannot answer, or does
    not know the session as ``user_id``'s (sql/owner.py: the query checks then).

    The cache is trusted while the file is held without a break: ``is_open`` is read
    before the generation, so a handover in between shows as a new generation (a miss).
    """
    if engine.deferred is None or not getattr(engine, "is_open", False):
        return None  # (SQLite, PostgreSQL: their generation is read holding the connection)
    generation = engine.generation
    if engine.recent_runs.owner(generation, session_id) != user_id:
        return None
    cached = engine.recent_runs.recent(generation, session_id, n)
    return None if cached is None else [copied(run) for run in cached]


def learn_next_seq(con: Any, engine: Engine, generation: int, session_id: str) -> None:
    """After a history read off the cache (the first of a hold of the file: in a notebook,
    most turns, the file being let go after a second idle): the session's next seq and
    owner, so that this turn's run can be queued (~0.5 ms, one statement). Not when a
    dead process left turns: the append, off the cache, keeps them first."""
    if engine.journal is not None and turns_to_keep(engine.journal):
        return
    row = con.execute("SELECT user_id, (SELECT coalesce(max(seq), -1) + 1 FROM runs "
                      "WHERE session_id = ?) FROM sessions WHERE session_id = ?",
                      [session_id, session_id]).fetchone()
    if row is not None:
        engine.recent_runs.known(generation, session_id, row[1], row[0])


def _by_commit(learned: list[tuple]) -> list[tuple]:
    """The numbered runs of one user committed together as one write (their texts, the
    last number), wherever they are in the batch: the index takes a commit's runs all or
    none (it checks that it was current just before that COMMIT: a second write of the
    same COMMIT would find it current after it, and be dropped). Runs with revisions
    chain by them: one at a time, in order."""
    out: list[tuple] = []
    merged: dict[tuple[str, Any], int] = {}  # (user, stamp) -> its place in ``out``
    for user_id, rev, docs, stamp, appended in learned:
        at = merged.get((user_id, stamp)) if appended is not None else None
        if at is None:
            if appended is not None:
                merged[(user_id, stamp)] = len(out)
            out.append((user_id, rev, list(docs), stamp, appended))
        else:
            last = out[at]
            out[at] = (user_id, None, [*last[2], *docs], stamp, max(last[4], appended))
    return out


class DeferredAppends:
    """The runs of one engine waiting for their commit, and the thread that commits them."""

    def __init__(self, engine: Any) -> None:  # an EngineBase
        self._engine = engine
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Queued] = []
        self._thread: threading.Thread | None = None
        self.writing = False  # set (under the engine's mutex) while a batch is written
        self._batch: list[_Queued] = []  # the batch being written (under self._cond)

    @property
    def pending(self) -> bool:
        return bool(self._queue)

    def unsettled_sessions(self) -> set[str]:
        """The sessions of the runs queued or being committed now (not yet readable
        beside the commit: ``DuckDbEngine.reading``)."""
        with self._cond:
            return {q.run.session_id for q in (*self._queue, *self._batch)}

    def add(self, run: Run, user_id: str | None) -> int | None:
        """Queue ``run`` for its commit and return its seq; None when it must be
        appended now (see the module's docstring)."""
        engine: Any = self._engine
        journal = engine.journal
        if journal is not None and run.run_id not in journal.in_flight:
            return None  # not staged: a kill would lose it
        if not storable(run, user_id):
            return None
        with engine.mutex:
            if not engine.is_open or engine.read_only or engine.in_transaction:
                return None
            if engine.others_waiting():  # hand the file over after this run, not later
                return None
            cache = engine.recent_runs
            generation = engine.generation
            seq = cache.next_seq(generation, run.session_id)
            if seq is None or (user_id is not None
                               and cache.owner(generation, run.session_id) != user_id):
                return None  # the owner is checked (or claimed) in SQL by the append
            run.seq = seq
            if journal is not None and not journal.note(run_entry(run, user_id)):
                run.seq = None
                return None
            if run.context is not None:  # as read back: the context knows its session
                run.context.session_id = run.session_id
            if run.cell_id is not None and run.supersede_cell and run.status == "ok":
                cache.supersede(generation, run.session_id, run.cell_id)
            cache.appended(generation, run, user_id)
            # The caller keeps its run (its messages are the response's): the queue gets
            # its own run and messages (~15 us; a deep copy, request included, ~85 us).
            mine = run.model_copy(update={"messages": [m.model_copy() for m in run.messages]})
            queued = _Queued(mine, user_id, seq, generation, time.monotonic())
            with self._cond:
                self._queue.append(queued)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._serve, daemon=True,
                                                    name="agentmem-deferred-appends")
                    self._thread.start()
                self._cond.notify()
        return seq

    def _serve(self) -> None:
        while True:
            with self._cond:
                if not self._queue and not self._cond.wait_for(lambda: self._queue,
                                                               IDLE_EXIT_S):
                    self._thread = None
                    return
            try:
                self.write_pending()
            except Exception:  # noqa: BLE001 (kept in the file: stored at the next append)
                log.warning("queued runs could not be written", exc_info=True)

    def write_pending(self) -> None:
        """Commit every queued run now, in this thread (a reader's, or the writer's); the
        index is given their texts once the mutex is let go (waiting for a search in
        progress unless this thread still holds the connection: ``wrote``)."""
        engine: Any = self._engine
        learned: list[tuple[str, int | None, list[Any], Any, int | None]] = []
        with engine.mutex:
            if self.writing:  # this thread is writing them (the engine's connection())
                return
            with self._cond:
                if not self._queue:
                    return
                self.writing = True  # before the queue empties: never both seem done
                batch, self._queue = self._queue, []
                self._batch = batch
            try:
                self._write(batch, learned)
            finally:
                self.writing = False
                with self._cond:
                    self._batch = []
        indexes = engine.search_indexes
        for user_id, rev, docs, stamp, appended in (_by_commit(learned) if indexes is not None
                                                    else ()):
            indexes.wrote(user_id, rev, docs, stamp, appended=appended)

    def _write(self, batch: list[_Queued], learned: list[Any]) -> None:
        engine: Any = self._engine
        writes: list[RunWritten] = []
        try:
            with engine.transaction("runs") as con:  # one COMMIT for the batch
                for queued in batch:
                    writes.append(self._insert(CheckedConnection(con), queued))
        except Exception:  # noqa: BLE001 (one at a time: one bad run keeps no other out)
            if len(batch) == 1:
                self._failed(batch[0])
                return
            for queued in batch:
                try:
                    with engine.transaction("runs") as con:
                        written = self._insert(CheckedConnection(con), queued)
                except Exception:  # noqa: BLE001
                    self._failed(queued)
                else:
                    self._note_for_index(queued, written, learned)
                    self._done(queued)
            return
        for queued, written in zip(batch, writes):
            self._note_for_index(queued, written, learned)
            self._done(queued)
        if log.isEnabledFor(logging.DEBUG):  # (bench/bench_peers.py reads it)
            log.debug("committed %d queued run(s) %.2f ms after the first was queued",
                      len(batch), (time.monotonic() - batch[0].queued_at) * 1000)

    def _note_for_index(self, queued: _Queued, written: RunWritten,
                        learned: list[Any]) -> None:
        """The committed run's texts, for this process's search index as they are, with
        the stamp right after the COMMIT (still holding the connection): given to it once
        the connection is let go (``write_pending``), so the next search reads nothing
        to catch up with them (three statements, ~3 ms at 100k messages, on DuckDB)."""
        user_id = queued.user_id
        if user_id is None:
            return
        run = queued.run
        learned.append((user_id, written.revs.get(user_id), [
            (m.message_id, "messages", run.session_id, run.run_id, m.role, m.content)
            for m in run.messages if m.content], index_stamp(self._engine), written.appended))

    def _insert(self, con: Any, queued: _Queued) -> RunWritten:
        engine: Any = self._engine
        if engine.generation != queued.generation:  # let go of meanwhile (a failed rollback)
            raise StoreError("the file was handed over before the run was written")
        return insert_run(con, queued.run, queued.seq, queued.user_id, engine.lock_session)

    def _done(self, queued: _Queued) -> None:
        journal = self._engine.journal
        if journal is not None:
            journal.done(queued.run.run_id, None)

    def _failed(self, queued: _Queued) -> None:
        # Kept in this process (and still in its file of turns in flight): the next
        # append off the run cache stores it first (sql/staged.py). The cache ran ahead
        # of the database: cleared, so that next append is one.
        log.warning("run %s could not be written; it is kept and stored at the next turn",
                    queued.run.run_id, exc_info=True)
        self._engine.recent_runs.clear()
        journal = self._engine.journal
        if journal is not None:
            journal.done(queued.run.run_id, unstored_entry(queued.run, queued.user_id))

    def after_fork_in_child(self) -> None:
        # The parent's queue is the parent's to write; its thread does not exist here.
        self._cond = threading.Condition(threading.Lock())
        self._queue = []
        self._batch = []
        self._thread = None
        self.writing = False
