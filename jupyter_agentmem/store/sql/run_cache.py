"""The last runs of recently used sessions, kept in memory between turns.

Reading the last N runs is the costliest statement of a turn (~2.7 ms of ~5). The
cache is only trusted while this process has held the database without a break:
every hand-over to another process starts a new *generation* and drops it, and every
write in this process other than appending a run (an edit) clears it. It has a lock of its
own: the next turn reads it while the engine's thread may be committing the last run
(sql/deferred.py), without waiting for the engine's mutex.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from ...types import Run


@dataclass
class _Entry:
    generation: int
    runs: list[Run] = field(default_factory=list)  # successful runs, oldest first
    complete: bool = False  # True when ``runs`` is every successful run of the session
    next_seq: int | None = None
    owner: str | None = None  # the session's user_id, as a run appended here checked it


def copied(run: Run) -> Run:
    """A copy of ``run`` its holder may change without changing the original: the run
    and each message (their fields are values; tool calls, a list of dicts, copied
    whole). A pydantic deep copy of 60 runs took ~3.6 ms of a turn; this ~0.3 ms."""
    return run.model_copy(update={"messages": [
        m.model_copy(deep=m.tool_calls is not None) for m in run.messages]})


class RecentRuns:
    """Per-session tail of successful runs, bounded in runs and in sessions."""

    # 256: as far back as a token budget looks (``agent.MAX_BUDGET_RUNS``): with 16, a
    # session whose runs all fit an 8k budget asked for 64 and read them from SQL at
    # every turn (~4-7 ms on DuckDB at 100k messages, bench/bench_search_scale.py).
    def __init__(self, keep: int = 256, sessions: int = 64) -> None:
        self.keep = keep
        self.sessions = sessions
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.RLock()

    def _entry(self, generation: int, session_id: str) -> _Entry | None:
        entry = self._entries.get(session_id)
        if entry is None or entry.generation != generation:
            return None
        self._entries.move_to_end(session_id)
        return entry

    def _new(self, generation: int, session_id: str) -> _Entry:
        entry = self._entries[session_id] = _Entry(generation)
        self._entries.move_to_end(session_id)
        while len(self._entries) > self.sessions:
            self._entries.popitem(last=False)
        return entry

    def recent(self, generation: int, session_id: str, n: int) -> list[Run] | None:
        """The last ``n`` runs when the cache can answer for sure, else None."""
        with self._lock:
            entry = self._entry(generation, session_id)
            if entry is None or (len(entry.runs) < n and not entry.complete):
                return None
            return entry.runs[-n:]

    def fill(self, generation: int, session_id: str, runs: list[Run], asked: int) -> None:
        """Remember what a query for the last ``asked`` runs returned."""
        with self._lock:
            entry = self._entry(generation, session_id) or self._new(generation, session_id)
            # Copies: the caller keeps its objects and may change them; the cache must not.
            entry.runs = [copied(run) for run in runs[-self.keep:]]
            entry.complete = len(runs) < asked and len(runs) <= self.keep

    def next_seq(self, generation: int, session_id: str) -> int | None:
        with self._lock:
            entry = self._entry(generation, session_id)
            return entry.next_seq if entry is not None else None

    def owner(self, generation: int, session_id: str) -> str | None:
        with self._lock:
            entry = self._entry(generation, session_id)
            return entry.owner if entry is not None else None

    def appended(self, generation: int, run: Run, owner: str | None = None) -> None:
        """A run was committed by this process (``run.seq`` is set) for ``owner``."""
        with self._lock:
            entry = self._entry(generation, run.session_id)
            if entry is None:
                entry = self._new(generation, run.session_id)
                entry.complete = run.seq == 0  # a new session: we know all of it
            entry.next_seq = run.seq + 1
            entry.owner = owner or entry.owner
            if run.status == "ok":
                # Without its context (the request sent): history never needs it.
                entry.runs.append(copied(run.model_copy(update={"context": None})))
                if len(entry.runs) > self.keep:
                    del entry.runs[0]
                    entry.complete = False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def supersede(self, generation: int, session_id: str, cell_id: str) -> None:
        """A run of ``cell_id`` that worked is being appended: the cell's earlier runs
        leave the history (what is cached stays the newest runs history may send)."""
        with self._lock:
            entry = self._entry(generation, session_id)
            if entry is not None:
                entry.runs = [run for run in entry.runs if run.cell_id != cell_id]

    def known(self, generation: int, session_id: str, next_seq: int,
              owner: str | None) -> None:
        """The session's next seq and owner, read in this generation (after ``fill``)."""
        with self._lock:
            entry = self._entry(generation, session_id)
            if entry is not None and entry.next_seq is None:
                entry.next_seq = next_seq
                entry.owner = owner
