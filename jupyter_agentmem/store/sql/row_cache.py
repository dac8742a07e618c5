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
changes once set, so no other user can be answered from another's entry.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

USERS = 8  # users whose memories are kept (a kernel acts as one or two)
SESSIONS = 64  # sessions whose latest summary is kept


class RowCache:
    """Per user, the live memories' rows; per (user, session), the latest summary."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the kernel thread and the memory worker
        self._memories: OrderedDict[tuple[str, str], tuple[Hashable, Any]] = OrderedDict()
        self._summaries: OrderedDict[tuple[str, str], tuple[Hashable, Any]] = OrderedDict()

    def memories(self, stamp: Hashable, user_id: str, namespace: str) -> Any | None:
        """What ``keep_memories`` kept for the user at this stamp, else None."""
        return self._get(self._memories, stamp, (user_id, namespace))

    def keep_memories(self, stamp: Hashable, user_id: str, namespace: str, rows: Any) -> None:
        self._put(self._memories, stamp, (user_id, namespace), rows, USERS)

    def summary(self, stamp: Hashable, user_id: str, session_id: str) -> tuple[bool, Any]:
        """(True, the latest summary or None) when kept at this stamp, else (False, None)."""
        with self._lock:
            found = self._summaries.get((user_id, session_id))
            if found is None or found[0] != stamp:
                return False, None
            self._summaries.move_to_end((user_id, session_id))
            return True, found[1]

    def keep_summary(self, stamp: Hashable, user_id: str, session_id: str, summary: Any) -> None:
        self._put(self._summaries, stamp, (user_id, session_id), summary, SESSIONS)

    def clear(self) -> None:
        with self._lock:
            self._memories.clear()
            self._summaries.clear()

    def _get(self, table: OrderedDict, stamp: Hashable, key: tuple[str, str]) -> Any | None:
        with self._lock:
            found = table.get(key)
            if found is None or found[0] != stamp:
                return None
            table.move_to_end(key)
            return found[1]

    def _put(self, table: OrderedDict, stamp: Hashable, key: tuple[str, str], value: Any,
             bound: int) -> None:
        with self._lock:
            table[key] = (stamp, value)
            table.move_to_end(key)
            while len(table) > bound:
                table.popitem(last=False)
