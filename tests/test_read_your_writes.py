"""Read-your-writes: a memory or summary read waits for the work already queued for it.

The model takes 1 s per memory and summary call; the reply never waits for them, but
``agent.memory.memories`` / ``.summary``, ``%agent memories`` / ``summary`` and the
panel's refresh right after the turn show what that turn produced (phidata's docs
example prints them right after its first turn).
"""

from __future__ import annotations

import json

from IPython.utils.capture import capture_output
from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory, runtime
from jupyter_agentmem.memory.db import DuckDbMemoryDb
from jupyter_agentmem.notebook.panel import panel
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

SLOW = 1.0  # seconds per memory / summary call


def script_slow_memory_work(server, memory: str, summary: str) -> None:
    server.script(Reply(content=None, delay=SLOW, tool_calls=[
        {"name": "add_memory", "arguments": {"memory": memory, "topics": ["name"]}}]),
        kind="memory")
    server.script(Reply(content=json.dumps({"summary": summary, "topics": ["name"]}),
                        delay=SLOW), kind="summary")


def test_memories_and_summary_right_after_the_first_turn(server, model, db_path):
    # The docs example: no history, memories and summary on, read right after the turn.
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  memory=AgentMemory(db=DuckDbMemoryDb(db_file=db_path),
                                     create_user_memories=True, create_session_summary=True),
                  session_id="s1")
    script_slow_memory_work(server, "The user's name is John Billings.", "John introduced himself.")
    agent.run("My name is john billings?")
    # The reply did not wait: the slow memory call has not been answered yet.
    assert ("request", "chat") in server.log
    assert DuckDbStore(db_path).as_user("default").user_memories() == []
    # The read waits for the work queued for this user and session.
    assert [m.memory for m in agent.memory.memories] == ["The user's name is John Billings."]
    assert agent.memory.summary is not None
    assert agent.memory.summary.summary == "John introduced himself."
    # A second turn: the reads stay current (not one turn behind).
    script_slow_memory_work(server, "John lives in NYC.", "John lives in NYC.")
    agent.run("I live in nyc?")
    assert [m.memory for m in agent.memory.memories][0] == "John lives in NYC."  # newest first
    assert agent.memory.summary.summary == "John lives in NYC."


def test_a_read_waits_no_longer_than_wait_timeout(server, model, db_path):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  memory=AgentMemory(create_user_memories=True, wait_timeout=0.0),
                  session_id="s2")
    server.script(Reply(content=None, delay=SLOW, tool_calls=[
        {"name": "add_memory", "arguments": {"memory": "late", "topics": []}}]), kind="memory")
    agent.run("hello")
    assert agent.memory.memories == []  # bounded: did not wait for the slow call
    assert agent.memory.wait(10)
    assert [m.memory for m in agent.memory.memories] == ["late"]


def test_magics_and_panel_read_after_queued_work(shell, server, db_path):
    script_slow_memory_work(server, "Ana likes tea.", "Ana talked about tea.")
    with capture_output():
        shell.run_cell_magic("agent", "session=s3 user=ana memories=on summary=on", "I like tea")
    frame = shell.run_line_magic("agent", "memories user=ana")
    assert list(frame["memory"]) == ["Ana likes tea."]
    summaries = shell.run_line_magic("agent", "summary session=s3 user=ana")
    assert list(summaries["summary"]) == ["Ana talked about tea."]

    script_slow_memory_work(server, "Ana lives in Porto.", "Ana lives in Porto.")
    with capture_output():
        shell.run_cell_magic("agent", "session=s3 user=ana memories=on summary=on",
                             "I live in Porto")
    view = panel(session_id="s3", user_id="ana", store=db_path)
    try:
        assert "Ana lives in Porto." in list(view.memories_tab.frame["memory"])
        assert "Ana lives in Porto." in list(view.summaries_tab.frame["summary"])
    finally:
        view.close()
    assert runtime.idle(10)
