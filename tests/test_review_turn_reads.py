"""Holes found reviewing issue 16's turn reads and issue 17's first cell (review of
0254a1b..655949b): each test failed on 655949b.
"""

from __future__ import annotations

import threading

import pytest

from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.sql import search_index
from jupyter_agentmem.types import Memory, Message, Run


def _run(session: str, user: str, reply: str) -> Run:
    return Run(session_id=session, messages=[Message(role="user", content=user),
                                             Message(role="assistant", content=reply)])


def test_a_side_read_that_saves_a_snapshot_and_a_commit_that_indexes_do_not_deadlock(
        tmp_path, monkeypatch):
    # The turn's search runs on the side reader, so it takes the search index's lock
    # without the engine's mutex; building a partition then stores its snapshot in a
    # transaction (the mutex). A commit holding the mutex (the deferred run's, the memory
    # job's add_memory) then tells the index what it wrote (the index lock): each waited
    # for the other until the engine's lock timeout, and the snapshot was lost.
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(str(tmp_path / "a.duckdb")).as_user("ana")
    for i in range(3):
        store.append_run(_run("s", f"my sister plays the cello {i}", "Lovely"))
    engine = store.engine
    with engine.connection():  # the queued runs committed; the file held
        pass
    engine.search_indexes = None  # the next search builds the index (and saves it)
    engine.lock_timeout_s = 20.0
    saving, committing = threading.Event(), threading.Event()
    original_save = search_index.SearchIndexes._save

    def save(self, *args):
        saving.set()
        committing.wait(10)  # the commit below holds the mutex first
        return original_save(self, *args)

    monkeypatch.setattr(search_index.SearchIndexes, "_save", save)
    found: list = []
    searcher = threading.Thread(
        target=lambda: found.append(store.search_ids("cello", "exchanges", 5)))

    def commit_a_memory() -> None:
        saving.wait(10)
        with engine.connection():  # what add_memory holds while its index learns it
            committing.set()
            store.add_memory(Memory(user_id="ana", memory="Ana plays the viola"))

    committer = threading.Thread(target=commit_a_memory)
    searcher.start()
    committer.start()
    committer.join(10)
    stuck = committer.is_alive()  # waiting for the index lock the searcher holds
    searcher.join(30)
    committer.join(30)
    assert not stuck
    assert found and len(found[0]) == 3
    with engine.connection() as con:  # the snapshot was stored, not lost to a timeout
        assert store.search_index().snapshots.read(con, "ana", "exchanges") is not None
    store.close()


@pytest.mark.parametrize("history", [True, False])
def test_recall_sees_the_last_turn_whose_commit_is_still_queued(db_path, model, monkeypatch,
                                                                 history):
    # Run All: a cell's turn is queued for its commit (sql/deferred.py) and the next cell
    # starts at once. Recall reads beside that commit (DuckDbEngine.reading), so the
    # exchange just made in another session (or in this one, without history) was not
    # recalled: a read-your-writes break of "the next turn sees the run" (issue 17).
    from jupyter_agentmem import Agent
    from jupyter_agentmem.memory import AgentMemory
    from jupyter_agentmem.storage import AgentStorage
    from jupyter_agentmem.store.sql import deferred

    def agent(session: str, **kwargs) -> Agent:
        return Agent(model=model, storage=AgentStorage(open_store(db_path)),
                     session_id=session, user_id="ana", **kwargs)

    first = agent("pets")
    first.run("warm up")  # the session's owner and seq known: later runs are queued
    release = threading.Event()
    original_write = deferred.DeferredAppends._write

    def slow_write(self, *args):  # the commit of the queued run takes its time
        release.wait(5)
        return original_write(self, *args)

    monkeypatch.setattr(deferred.DeferredAppends, "_write", slow_write)
    try:
        first.run("my dog is called Rexford")
        second = (agent("chat", memory=AgentMemory(recall=1)) if history
                  else agent("pets", memory=AgentMemory(recall=1),
                             add_history_to_messages=False))
        request = second.build_request("what is my dog Rexford called")
    finally:
        release.set()
    assert [e.run_id for e in request.recalled] == [first.run_id]


def test_agent_usage_right_after_a_turn_has_its_summary_call(shell, server):
    # The ledger row of a background call is a job of its own (key "usage"), submitted by
    # the summary job when its model call returns; %agent usage waited for the user's
    # work and that key only, so a summary call still under way was missing from it.
    import json

    from model_server import Reply

    server.script(Reply(content=json.dumps({"summary": "Ana likes tea", "topics": []}),
                        delay=1.0), kind="summary")
    from IPython.utils.capture import capture_output

    with capture_output():
        shell.run_cell_magic("agent", "session=u user=ana summary=on history=0", "I like tea")
    frame = shell.run_line_magic("agent", "usage user=ana by=kind")
    assert "summary" in set(frame["kind"])
