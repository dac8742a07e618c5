"""``jupyter_agentmem.search()``: the past messages, memories and summaries that match, ranked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .store import Store, open_store
from .store.location import default_db_path

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["score", "kind", "session_id", "run_seq", "role", "snippet", "id", "user_id",
           "run_id", "created_at"]


def search(query: str, user_id: str = "default", session_id: str | None = None,
           kinds: Sequence[str] = ("messages", "memories", "summaries"), limit: int = 20,
           store: Store | str | None = None) -> pd.DataFrame:
    """The texts of ``user_id`` (their sessions' messages and summaries, their memories)
    that best match ``query``, ranked by BM25, best first.

    ``id`` of a message is what ``%agent history at=<id>`` opens. ``store`` is a Store,
    a path or URL, or None for the default database.
    """
    import pandas as pd

    if not isinstance(store, Store):
        store = open_store(default_db_path(store))
    hits = store.as_user(user_id).search(query, session_id=session_id, kinds=kinds,
                                         limit=limit)
    return pd.DataFrame(hits, columns=COLUMNS)
