"""Which memories a prompt carries once a user has many: the relevant ones and the newest.

Up to ``limit`` memories (``AgentMemory(memory_limit=30)``) all go; past that, the ones
that best match the message (BM25 over the store's search index) plus the few newest,
so a user with 5,000 memories still gets a prompt of bounded size (phidata sends every
memory in every prompt). The memory manager is shown the same bounded selection.
"""

from __future__ import annotations

from ..store import Store
from ..types import Memory

NEWEST = 5  # always shown: a fresh fact is likely about what the user is doing now


def select_memories(store: Store, user_id: str, text: str | None, limit: int) -> list[Memory]:
    """At most ``limit`` of ``user_id``'s live memories for ``text``, oldest first."""
    if limit <= 0:
        return []
    store = store.as_user(user_id)
    if store.count_memories() <= limit:
        return store.user_memories()
    newest = min(NEWEST, limit)
    hits = store.search(text, kinds=["memories"],
                        limit=limit) if text and text.strip() else []
    return store.memories_by_relevance([h["id"] for h in hits], newest, limit)
