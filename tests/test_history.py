"""A session resumed in a new process sends exactly the last N runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from model_server import Reply, roles_and_contents

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

PROC = str(Path(__file__).with_name("agent_proc.py"))
DESCRIPTION = "You are a terse assistant."


def run_in_new_process(spec: dict) -> list[str]:
    out = subprocess.run([sys.executable, PROC, json.dumps(spec)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.parametrize("n", [1, 3, 0])
def test_resumed_session_in_new_process_sends_last_n_runs(server, model, db_path, n):
    # Five turns in this process, one of them failed (never part of history).
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  add_history_to_messages=True, num_history_responses=5,
                  description=DESCRIPTION, session_id="resume-me")
    server.script(Reply(status=500, content="scripted failure"))
    agent.respond("turn 0 fails")
    for i in range(1, 5):
        assert agent.run(f"turn {i}").content == f"echo: turn {i}"
    DuckDbStore(db_path).close()  # hand the file over now rather than after the idle time
    server.reset()

    lines = run_in_new_process({"db": db_path, "base_url": server.base_url,
                                "session": "resume-me", "history": n,
                                "description": DESCRIPTION, "messages": ["next"]})

    assert lines == ["done 0 'echo: next'"]
    (sent,) = server.of("chat")
    history = []
    for i in range(5 - n, 5):
        history += [("user", f"turn {i}"), ("assistant", f"echo: turn {i}")]
    assert roles_and_contents(sent) == [("system", DESCRIPTION), *history, ("user", "next")]
    assert sent["model"] == "proc-model"
    runs = DuckDbStore(db_path).session_runs("resume-me")
    assert [(r.seq, r.status) for r in runs] == [
        (0, "error"), (1, "ok"), (2, "ok"), (3, "ok"), (4, "ok"), (5, "ok")]
    assert [m.content for m in runs[-1].messages] == ["next", "echo: next"]
    DuckDbStore(db_path).close()


def test_history_window_slides_and_skips_failed_runs(server, model, db_path):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  add_history_to_messages=True, num_history_responses=2, session_id="s")
    agent.run("a")
    server.script(Reply(status=500))
    agent.respond("b fails")
    agent.run("c")
    agent.run("d")
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "a"), ("assistant", "echo: a"), ("user", "c"), ("assistant", "echo: c"),
        ("user", "d")]
    # phidata's default: no history unless asked.
    plain = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="s")
    plain.run("e")
    assert roles_and_contents(server.of("chat")[-1]) == [("user", "e")]
    DuckDbStore(db_path).close()
