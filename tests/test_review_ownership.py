"""Holes a hostile review of issue 15's ownership found after the merges: each test is
bob reaching (or disturbing) ana's data by a path the merged branches added."""

from __future__ import annotations

import pytest

from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Message, Run


def _turn(store, session: str, text: str) -> Run:
    run = Run(session_id=session, status="ok",
              messages=[Message(role="user", content=text),
                        Message(role="assistant", content="noted " + text)])
    store.stage_run(run)
    store.append_run(run)
    return run


def test_bob_reading_anas_history_leaves_her_cached_history(any_store_location):
    """The run cache is shared by every user of an engine: bob's read of ana's session
    (absent to him) must not teach it that her session has no runs."""
    store = open_store(any_store_location)
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        for i in range(3):
            _turn(ana, "ana_s", f"ana secret {i}")
        assert [r.seq for r in ana.recent_runs("ana_s", 5)] == [0, 1, 2]
        assert bob.recent_runs("ana_s", 5) == []
        assert [r.seq for r in ana.recent_runs("ana_s", 5)] == [0, 1, 2]
    finally:
        store.close()
    store = open_store(any_store_location)  # a new hold: bob reads first, then ana writes
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        assert bob.recent_runs("ana_s", 5) == []
        _turn(ana, "ana_s", "ana secret 3")
        assert [r.seq for r in ana.recent_runs("ana_s", 5)] == [0, 1, 2, 3]
    finally:
        store.close()
