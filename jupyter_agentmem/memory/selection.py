"""Which memories a prompt carries once a user has many: the relevant ones and the newest.

Up to ``limit`` memories (``AgentMemory(memory_limit=30)``) all go; past that, the ones
that best match the message (BM25 over the user's memories alone, their own partition
of the search index) plus the few newest,
so a user with 5,000 memories still gets a prompt of bounded size (phidata sends every
memory in every prompt). The memory manager is shown the same bounded selection: the
prompt's own (the memory job never searches nor reads them again: the next turn waits for it).
"""

from __future__ import annotations

from ..store import Store
from ..types import Memory

NEWEST = 5  # always shown: a fresh fact is likely about what the user is doing now


def select_memories(store: Store, user_id: str, text: str | None, limit: int) -> list[Memory]:
    """At most ``limit`` of ``user_id``'s live memories for ``text``, oldest first: all
    of them when they fit, else the newest and the best matches.

    The search goes first (in memory, no statement once the index is current) and the
    rows come in one statement: ranking a few memories that all fit anyway costs less
    than a count (one DuckDB statement is ~1-2 ms).
    """
    if limit <= 0:
        return []
    store = store.as_user(user_id)
    ranked = [memory_id for memory_id, _ in store.search_ids(
        text, "memories", limit)] if text and text.strip() else []
    return store.memories_by_relevance(ranked, min(NEWEST, limit), limit)
