"""The in-process cache of recent runs is never trusted past a hand-over or an edit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from model_server import roles_and_contents

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

AGENT_PROC = Path(__file__).parent / "agent_proc.py"


def history_agent(model, db_path, session="shared") -> Agent:
    return Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                 add_history_to_messages=True, num_history_responses=3, session_id=session)


def test_a_run_written_by_another_process_is_in_the_next_history(server, model, db_path):
    agent = history_agent(model, db_path)
    agent.run("from parent 1")  # fills the cache while this process holds the file
    assert agent.store.engine.is_open
    spec = {"db": db_path, "base_url": server.base_url, "session": "shared",
            "messages": ["from child"]}
    # The child waits for the file; this process hands it over (its cache is now stale).
    out = subprocess.run([sys.executable, str(AGENT_PROC), json.dumps(spec)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    agent.run("from parent 2")
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "from parent 1"), ("assistant", "echo: from parent 1"),
        ("user", "from child"), ("assistant", "echo: from child"),
        ("user", "from parent 2")]
    seqs = [r.seq for r in DuckDbStore(db_path).session_runs("shared")]
    assert seqs == [0, 1, 2]


def test_an_edited_message_is_what_the_next_run_sends(server, model, db_path):
    agent = history_agent(model, db_path)
    agent.run("my name is Ana")
    store = DuckDbStore(db_path)
    user_message = store.message_rows("shared")[0]
    store.edit_message(user_message["message_id"], "my name is Bea")
    agent.run("who am I?")
    assert roles_and_contents(server.of("chat")[-1])[0] == ("user", "my name is Bea")


def test_cached_history_matches_the_database_over_many_turns(server, model, db_path):
    agent = history_agent(model, db_path)
    for i in range(20):
        agent.run(f"turn {i}")
    cached = agent.store.recent_runs("shared", 3)
    agent.store.engine.close()  # a new generation: the next read comes from the file
    fresh = agent.store.recent_runs("shared", 3)
    assert [[m.content for m in r.messages] for r in cached] == [
        [m.content for m in r.messages] for r in fresh]
    assert [r.seq for r in fresh] == [17, 18, 19]
