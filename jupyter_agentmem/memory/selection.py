"""Which memories a prompt carries once a user has many: the relevant ones and the newest.

Up to ``limit`` memories (``AgentMemory(memory_limit=30)``) all go; past that, the ones
that best match the message (BM25 over the user's memories alone, their own partition
of the search index) plus the few newest,
so a user with 5,000 memories still gets a prompt of bounded size (phidata sends every
memory in every prompt). The memory manager is shown the same bounded selection: the
prompt's, read again by id (the memory job never searches: the next turn waits for it).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..store import Store
from ..types import Memory

NEWEST = 5  # always shown: a fresh fact is likely about what the user is doing now


def select_memories(store: Store, user_id: str, text: str | None, limit: int,
                    ranked: Sequence[str] | None = None) -> list[Memory]:
    """At most ``limit`` of ``user_id``'s live memories for ``text``, oldest first.

    ``ranked``: the memory ids found relevant to ``text`` before (the prompt's own
    selection, given to the memory job): read again by id, no search.
    """
    if limit <= 0:
        return []
    store = store.as_user(user_id)
    if store.count_memories() <= limit:
        return store.user_memories()
    newest = min(NEWEST, limit)
    if ranked is None:
        ranked = [memory_id for memory_id, _ in store.search_ids(
            text, "memories", limit)] if text and text.strip() else []
    return store.memories_by_relevance(list(ranked), newest, limit)
