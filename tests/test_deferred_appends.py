"""A DuckDB run appended off the run cache is committed by the engine's thread after the
turn (store/sql/deferred.py): every read of this process sees it at once, another
process sees it once committed, a kill before the commit loses nothing the user saw, and
a run into another user's session is still refused before the turn is done.

To catch a run between the turn and its commit, the test holds the engine's mutex around
the turn: the engine's thread cannot commit until it is let go.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import duckdb
import pytest

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Message, Run


def agent_on(db: str, model, user: str = "ana", session: str = "s") -> Agent:
    return Agent(model=model, storage=AgentStorage(open_store(db)), session_id=session,
                 user_id=user, add_history_to_messages=True)


def committed(db: str, session: str = "s") -> list[tuple[int, str]]:
    """(seq, status) of the runs committed in the file, read by a connection of its own
    (in this process: it joins the same database, and sees only what is committed)."""
    con = duckdb.connect(db, config={"autoinstall_known_extensions": False,
                                     "autoload_known_extensions": False})  # the engine's
    try:
        return con.execute("SELECT seq, status FROM runs WHERE session_id = ? ORDER BY seq",
                           [session]).fetchall()
    finally:
        con.close()


def test_a_queued_run_is_seen_by_every_read_of_the_process(server, model, db_path):
    agent = agent_on(db_path, model)
    agent.run("first")  # the first run of a hold: checked and stored in SQL
    store, engine = agent.store, agent.store.engine
    with engine.mutex:
        response = agent.run("second turn about zebras")
        assert engine.deferred.pending  # not committed yet: the turn did not wait
        assert committed(db_path) == [(0, "ok")]
        # The next turn's history has it (from the run cache, no commit waited for).
        assert [r.messages[0].content for r in store.recent_runs("s", 3)] == [
            "first", "second turn about zebras"]
        assert engine.deferred.pending
        # Any read of the database writes the queued runs first.
        assert [m["content"] for m in store.message_rows("s")][2:] == [
            "second turn about zebras", response.content]
        assert not engine.deferred.pending
        assert committed(db_path) == [(0, "ok"), (1, "ok")]
    for read in (lambda: store.as_user("ana").search("zebras"),
                 lambda: store.count_runs("s"),
                 lambda: store.session_runs("s")):
        with engine.mutex:
            agent.run("more about zebras")
            assert engine.deferred.pending
            assert read()  # sees the run just queued
            assert not engine.deferred.pending
    hits = store.as_user("ana").search("zebras")
    assert sorted(h["run_seq"] for h in hits if h["role"] == "user") == [1, 2, 3, 4]
    assert [r.seq for r in store.session_runs("s")] == [0, 1, 2, 3, 4]
    # The request of a queued run is stored with it.
    assert store.run_context(response.run_id).messages[-1]["content"] == (
        "second turn about zebras")


def test_the_first_turn_of_a_hold_of_the_file_is_queued_too(server, model, db_path):
    """In a notebook the file is let go after a second idle: the next turn's history read
    (off the cache) learns the session's next seq and owner, so its run is queued."""
    agent = agent_on(db_path, model)
    agent.run("first")
    agent.run("second")
    engine = agent.store.engine
    engine.close()  # as after a second idle, or a handover to another kernel
    with engine.mutex:
        agent.run("third")
        assert engine.deferred.pending
    assert [(r.seq, r.messages[0].content) for r in agent.store.session_runs("s")] == [
        (0, "first"), (1, "second"), (2, "third")]
    # A run of another user into the session, after a history read that learned the
    # owner, is refused by the append itself, before it returns.
    engine.close()
    store = agent.store
    assert len(store.recent_runs("s", 3)) == 3
    bob = Run(session_id="s", messages=[Message(role="user", content="bob's")])
    store.as_user("bob").stage_run(bob)
    with engine.mutex, pytest.raises(StoreError, match="belongs to another user"):
        store.as_user("bob").append_run(bob)
    assert not engine.deferred.pending
    # Kept in the process as a failed append, it is not stored into ana's session by
    # the recovery at the next open either.
    engine.close()
    assert [r.messages[0].content for r in store.session_runs("s")] == [
        "first", "second", "third"]
    assert store.engine.journal.take_unstored() == []


def test_another_process_sees_the_run_once_committed(server, model, db_path):
    agent = agent_on(db_path, model)
    agent.run("first")
    agent.run("second")  # queued, then committed by the engine's thread
    code = textwrap.dedent(f"""
        from jupyter_agentmem.store import open_store
        store = open_store({db_path!r}).as_user("ana")
        print([(r.seq, r.messages[0].content) for r in store.session_runs("s")])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[(0, 'first'), (1, 'second')]"


def test_a_run_into_another_users_session_is_refused_before_the_turn_ends(
        server, model, db_path):
    agent_on(db_path, model, "ana").run("mine")
    store = open_store(db_path).as_user("ana")
    # ana's runs are in the run cache: the next would be queued
    store.append_run(Run(session_id="s", messages=[Message(role="user", content="x")]))
    bob = Run(session_id="s", messages=[Message(role="user", content="bob's")])
    store.as_user("bob").stage_run(bob)
    with pytest.raises(StoreError, match="belongs to another user"):
        store.as_user("bob").append_run(bob)
    assert not store.engine.deferred.pending
    assert [r.messages[0].content for r in store.session_runs("s")] == ["mine", "x"]


_KILLED_CHILD = textwrap.dedent("""
    import os, signal, sys
    from jupyter_agentmem import Agent, OpenAIChat
    from jupyter_agentmem.storage import AgentStorage
    from jupyter_agentmem.store import open_store

    db, base_url, streamed = sys.argv[1], sys.argv[2], sys.argv[3] == "stream"
    model = OpenAIChat(id="m", base_url=base_url, api_key="k", max_retries=0)
    agent = Agent(model=model, storage=AgentStorage(open_store(db)), session_id="s",
                  user_id="ana", add_history_to_messages=True)
    agent.run("first")
    engine = agent.store.engine
    engine.mutex.acquire()  # the engine's thread cannot commit from here on
    if streamed:
        shown = []
        def show(delta):
            shown.append(delta)
            if len(shown) == 3:  # three pieces of the reply are on the screen
                print("SAW", "".join(shown), flush=True)
                os.kill(os.getpid(), signal.SIGKILL)
        agent.respond("second", on_delta=show)
    else:
        response = agent.respond("second")
        print("SAW", response.content, flush=True)  # the turn is done, its reply shown
        os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.mark.parametrize("how", ["whole", "stream"])
def test_a_kill_before_the_commit_keeps_the_reply_the_user_saw(server, db_path, how):
    """Killed after the reply was shown (a finished turn, its commit queued) or while
    it streamed: the next process to open the file stores the run as it was, or as
    interrupted with the part of the reply shown."""
    from model_server import Reply

    server.script(Reply(content="the first answer"),
                  Reply(content="one two three four five six seven eight nine ten eleven twelve",
                        chunk_delay=0.01))
    proc = subprocess.run([sys.executable, "-c", _KILLED_CHILD, db_path, server.base_url,
                           how], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    saw = proc.stdout.split("SAW ", 1)[1].rstrip("\n")
    assert committed(db_path) == [(0, "ok")]  # the second run was never committed
    store = open_store(db_path).as_user("ana")  # a new process: it keeps what the dead one left
    runs = store.session_runs("s")
    assert [r.messages[0].content for r in runs] == ["first", "second"]
    second = runs[1]
    if how == "whole":  # stored as it was: ok, whole, with its request
        assert (second.seq, second.status, second.messages[1].content) == (1, "ok", saw)
        assert store.run_context(second.run_id).messages[-1]["content"] == "second"
        assert [r.messages[1].content for r in store.recent_runs("s", 3)] == [
            "the first answer", saw]
    else:
        assert (second.seq, second.status) == (1, "interrupted")
        assert second.messages[1].content.startswith(saw) and saw
        assert [h["id"] for h in store.as_user("ana").search(saw.split()[0])] == [
            second.messages[1].message_id]
    assert os.listdir(store.engine.journal.folder) == []  # the dead one's file is gone
    json.dumps([r.model_dump(mode="json") for r in runs])  # whole, readable rows


def test_a_rerun_cell_supersedes_its_queued_run(server, model, db_path):
    """A cell run again while its first run waits for its commit: history (off the run
    cache) has the re-run only, and the database says the first was superseded."""
    agent = agent_on(db_path, model)
    agent.run("before")
    engine = agent.store.engine
    agent.cell_id = "cell-1"
    with engine.mutex:
        first = agent.run("first try")
        second = agent.run("second try")
        assert engine.deferred.pending
        assert [r.messages[0].content for r in agent.store.recent_runs("s", 3)] == [
            "before", "second try"]
    rows = {r["run_id"]: r for r in agent.store.table_rows("runs")}
    assert rows[first.run_id]["superseded_by"] == second.run_id
    assert [r.messages[0].content for r in agent.store.recent_runs("s", 3)] == [
        "before", "second try"]


def test_a_queued_run_whose_commit_fails_leaves_no_gap_and_no_stuck_queue(db_path, caplog):
    """A run the engine's thread cannot commit (here: a run id stored already, by a
    caller appending the same run twice) is logged and kept; the run cache, which had
    counted it, is dropped, so the next append numbers from the database: no gap."""
    store = open_store(db_path).as_user("ana")
    first = Run(session_id="s", messages=[Message(role="user", content="one")])
    store.as_user("ana").append_run(first)
    store.as_user("ana").stage_run(first)  # the same run again, staged: it is queued...
    with store.engine.mutex:
        assert store.as_user("ana").append_run(first) == 1
        assert store.engine.deferred.pending
    store.engine.deferred.write_pending()  # ...and its commit fails
    assert "could not be written" in caplog.text
    assert not store.engine.deferred.pending
    second = Run(session_id="s", messages=[Message(role="user", content="two")])
    assert store.as_user("ana").append_run(second) == 1
    assert [(r.seq, r.messages[0].content) for r in store.session_runs("s")] == [
        (0, "one"), (1, "two")]
    assert store.engine.journal.take_unstored() == []
