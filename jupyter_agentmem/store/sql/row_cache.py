"""The rows every turn reads again, kept in memory while nothing can have changed them.

A turn with memories and summaries on read a user's memories (three statements, then
one) and the session's latest summary on every turn: on DuckDB each statement costs
~1-4 ms however small (5,000 memories, 100k messages: ~7 ms of memories, ~2-3 ms of
summary, measured in bench/bench_search_scale.py), for rows that change a few times a
session. Kept here, they are read again only when they may have changed:

- another process may have written: the engine's *generation* changed (DuckDB: the file
  was handed over; SQLite: another connection committed; PostgreSQL: always, so nothing
  is kept there between calls);
- this process committed a transaction that may write them: anything but a run appended
  or a model call recorded (``Engine.transaction(writes=...)``; a transaction says what it
  writes only when it is sure, else it counts as writing anything).

A summary is kept only for a session whose owner is the acting user (read from the
run cache, which learnt it from the run appended there): a session's owner never
changes once set, so no other user can be answered from another's entry. For the same
reason the sessions found in SQL to be a user's are kept (recall reads the runs of a
few of them at every turn, their owner checked again: ~1 ms a statement on DuckDB):
only a transaction that may delete or move one (anything but a run, a memory, a summary
or a model call) lets them go; a run's may claim a session nobody owned, which adds an
owner, never changes one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

USERS = 8  # users whose memories are kept (a kernel acts as one or two)
SESSIONS = 64  # sessions whose latest summary is kept
OWNED = 100_000  # sessions known to be a user's, at most (then forgotten, read again)


class RowCache:
    """Per user, the live memories' rows; per (user, session), the latest summary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the kernel thread and the memory worker
        self._memories: OrderedDict[tuple[str, str], tuple[Hashable, Any]] = OrderedDict()
        self._summaries: OrderedDict[tuple[str, str], tuple[Hashable, Any]] = OrderedDict()
        self._owned: OrderedDict[tuple[str, str], tuple[Hashable, set[str]]] = OrderedDict()

    def owned(self, stamp: Hashable, user_id: str, namespace: str) -> set[str]:
        """The sessions found to be the user's (of this namespace) at this stamp."""
        kept, found = self._get(self._owned, stamp, (user_id, namespace))
        return set(found) if kept else set()

    def keep_owned(self, stamp: Hashable, user_id: str, namespace: str,
                   sessions: set[str]) -> None:
        with self._lock:
            found = self._owned.get((user_id, namespace))
            kept = found[1] if found is not None and found[0] == stamp else set()
            if len(kept) + len(sessions) > OWNED:
                kept = set()
            self._owned[(user_id, namespace)] = (stamp, kept | sessions)
            self._owned.move_to_end((user_id, namespace))
            while len(self._owned) > USERS:
                self._owned.popitem(last=False)

    def memories(self, stamp: Hashable, user_id: str, namespace: str) -> Any | None:
        """What ``keep_memories`` kept for the user at this stamp, else None."""
        return self._get(self._memories, stamp, (user_id, namespace))[1]

    def keep_memories(self, stamp: Hashable, user_id: str, namespace: str, rows: Any) -> None:
        self._put(self._memories, stamp, (user_id, namespace), rows, USERS)

    def summary(self, stamp: Hashable, user_id: str, session_id: str) -> tuple[bool, Any]:
        """(True, the latest summary or None) when kept at this stamp, else (False, None)."""
        return self._get(self._summaries, stamp, (user_id, session_id))

    def keep_summary(self, stamp: Hashable, user_id: str, session_id: str, summary: Any) -> None:
        self._put(self._summaries, stamp, (user_id, session_id), summary, SESSIONS)

    def clear(self) -> None:
        with self._lock:
            self._memories.clear()
            self._summaries.clear()
            self._owned.clear()

    def _get(self, table: OrderedDict, stamp: Hashable,
             key: tuple[str, str]) -> tuple[bool, Any]:
        """(True, the value kept) when kept at this stamp, else (False, None)."""
        with self._lock:
            found = table.get(key)
            if found is None or found[0] != stamp:
                return False, None
            table.move_to_end(key)
            return True, found[1]

    def _put(self, table: OrderedDict, stamp: Hashable, key: tuple[str, str], value: Any,
             bound: int) -> None:
        with self._lock:
            table[key] = (stamp, value)
            table.move_to_end(key)
            while len(table) > bound:
                table.popitem(last=False)
