"""A streamed Python turn that stops early is kept as a ``cancelled`` run (issue 15, point 5).

``for chunk in agent.run(msg, stream=True)`` left with ``break`` (the generator closed,
by the loop or by the garbage collector), or Ctrl-C while chunks arrive, stores the run
with the user's message and the reply as far as it arrived, as ``%%agent`` and the
non-streamed call do; the next turn's history leaves it out, as every cancelled run.
Before, nothing was stored until the process died (then an ``interrupted`` run without
the partial reply), or a finished stream was stored as ``ok`` though nobody read it.
"""

from __future__ import annotations

import gc
import signal
import threading

import pytest
from model_server import Reply, roles_and_contents

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import open_store

LONG = "".join(f"piece {i:02d} of a long reply. " for i in range(40))  # 16-char chunks


def agent(model, location: str, session: str = "s") -> Agent:
    return Agent(model=model, storage=AgentStorage(open_store(location)), session_id=session,
                 user_id="ana", add_history_to_messages=True)


def runs(location: str, session: str = "s") -> list[tuple[str, list[str | None]]]:
    return [(r.status, [m.content for m in r.messages])
            for r in open_store(location).as_user("ana").session_runs(session)]


def assert_next_turn_leaves_it_out(server, model, location: str, before: str) -> None:
    server.reset()
    agent(model, location).run("next")
    assert roles_and_contents(server.of("chat")[0])[-3:] == [
        ("user", before), ("assistant", "echo: " + before), ("user", "next")]


def test_break_after_two_chunks_keeps_a_cancelled_run(server, model, any_store_location):
    agent(model, any_store_location).run("first")
    server.script(Reply(content=LONG))
    got = []
    for chunk in agent(model, any_store_location).run("tell me", stream=True):
        got.append(chunk.content)
        if len(got) == 2:
            break
    kept = runs(any_store_location)
    assert len(kept) == 2
    status, contents = kept[1]
    assert status == "cancelled"
    assert contents == ["tell me", "".join(got)]  # exactly what the caller read
    assert 0 < len(contents[1]) < len(LONG)
    run = open_store(any_store_location).as_user("ana").session_runs("s")[1]
    assert run.error and "stopped reading" in run.error
    assert_next_turn_leaves_it_out(server, model, any_store_location, "first")


def test_a_stream_dropped_unfinished_is_kept_when_collected(server, model, any_store_location):
    agent(model, any_store_location).run("first")
    server.script(Reply(content=LONG))
    chunks = agent(model, any_store_location).run("half read", stream=True)
    first = next(chunks).content
    del chunks  # never closed by the caller: the garbage collector closes it
    gc.collect()
    assert runs(any_store_location)[1] == ("cancelled", ["half read", first])
    assert_next_turn_leaves_it_out(server, model, any_store_location, "first")


def test_ctrl_c_in_the_loop_body_keeps_a_cancelled_run(server, model, any_store_location):
    agent(model, any_store_location).run("first")
    server.script(Reply(content=LONG))
    got = []
    with pytest.raises(KeyboardInterrupt):
        for chunk in agent(model, any_store_location).run("interrupt me", stream=True):
            got.append(chunk.content)
            if len(got) == 3:
                raise KeyboardInterrupt  # Ctrl-C while the caller handles a chunk
    assert runs(any_store_location)[1] == ("cancelled", ["interrupt me", "".join(got)])
    assert_next_turn_leaves_it_out(server, model, any_store_location, "first")


def test_ctrl_c_while_waiting_for_a_chunk_keeps_a_cancelled_run(server, model, db_path):
    # A real SIGINT to this (the main) thread while it waits for the next chunk.
    store_location = db_path
    agent(model, store_location).run("first")
    server.script(Reply(content=LONG, chunk_delay=0.5))
    got = []
    main = threading.main_thread().ident
    with pytest.raises(KeyboardInterrupt):
        for chunk in agent(model, store_location).run("slow", stream=True):
            got.append(chunk.content)
            if len(got) == 2:
                threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT)).start()
    status, contents = runs(store_location)[1]
    assert status == "cancelled" and contents[0] == "slow"
    assert contents[1].startswith("".join(got)) and len(contents[1]) < len(LONG)
    assert_next_turn_leaves_it_out(server, model, store_location, "first")


def test_a_stream_read_to_the_end_is_stored_once_as_ok(server, model, any_store_location):
    server.script(Reply(content=LONG))
    chunks = list(agent(model, any_store_location).run("all of it", stream=True))
    assert "".join(c.content for c in chunks) == LONG
    assert runs(any_store_location) == [("ok", ["all of it", LONG])]
