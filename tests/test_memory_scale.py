"""Memories at scale (a bounded, relevant selection); no memory call for a message with no fact."""

from __future__ import annotations

import pytest
from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.memory.user_memories import may_hold_a_fact
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.types import new_id, utcnow

PLANTED = "The user's sister plays the oboe in an orchestra."


def memory_lines(text: str) -> list[str]:
    body = text.split("<memories>", 1)[1].split("</memories>", 1)[0]
    return [line for line in body.splitlines() if line.startswith("- ")]


@pytest.fixture
def crowded(model, db_path):
    """ana with 5,000 memories, one of them the planted fact; bob with his own."""
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), user_id="ana",
                  session_id="scale", memory=AgentMemory(create_user_memories=True))
    now = utcnow().isoformat()
    rows = [{"memory_id": new_id(), "user_id": "ana", "memory": f"The user noted fact {i} "
             f"about topic {i % 97}.", "topics": [f"t{i % 7}"], "created_at": now,
             "updated_at": now} for i in range(4999)]
    rows.insert(2500, {"memory_id": new_id(), "user_id": "ana", "memory": PLANTED,
                       "topics": ["family"], "created_at": now, "updated_at": now})
    agent.store.import_rows({"memories": rows})
    agent.store.as_user("bob").import_rows({"memories": [{
        "memory_id": new_id(), "user_id": "bob", "memory": "Bob plays the oboe too.",
        "topics": [], "created_at": now, "updated_at": now}]})
    return agent


def test_a_user_with_5000_memories_gets_a_bounded_prompt_with_the_relevant_one(
        crowded, server):
    crowded.run("Which instrument does my sister play, the oboe or the flute?")
    system = server.of("chat")[-1]["messages"][0]["content"]
    lines = memory_lines(system)
    assert len(lines) <= crowded.memory.memory_limit == 30
    assert f"- {PLANTED}" in lines
    assert not any("Bob" in line for line in lines)  # never another user's
    assert len(system) < 4000  # bounded, against ~250,000 characters for all 5,000


def test_the_memory_manager_is_shown_a_bounded_list_with_the_relevant_one(crowded, server):
    crowded.run("My sister switched from the oboe to the bassoon last year.")
    assert crowded.memory.wait(30)
    (request,) = server.of("memory")
    kept = request["messages"][1]["content"].split("Latest exchange:", 1)[0]
    shown = [line for line in kept.splitlines() if line.startswith("[m")]
    assert len(shown) <= 30 and any(PLANTED in line for line in shown)


def test_the_memory_job_shows_the_prompts_selection_without_searching(crowded, server,
                                                                       monkeypatch):
    # The next turn waits for the memory job: a search there (seconds at 1M messages
    # on the old index) made every turn wait. The job re-reads the prompt's memories.
    import threading

    store = crowded.store
    searches: list[str] = []
    real = type(store).search_ids

    def counted(self, query, kind, limit, session_id=None):
        searches.append(threading.current_thread().name)
        return real(self, query, kind, limit, session_id)

    monkeypatch.setattr(type(store), "search_ids", counted)
    crowded.run("My sister switched from the oboe to the bassoon last year.")
    assert crowded.memory.wait(30)
    assert searches == [threading.current_thread().name]  # the prompt's, and only it
    prompt = memory_lines(server.of("chat")[-1]["messages"][0]["content"])
    (request,) = server.of("memory")
    kept = request["messages"][1]["content"].split("Latest exchange:", 1)[0]
    shown = [line.split("] ", 1)[1].rsplit(" (topics:", 1)[0]
             for line in kept.splitlines() if line.startswith("[m")]
    assert PLANTED in shown and sorted(shown) == sorted(line[2:] for line in prompt)


def test_under_the_limit_every_memory_goes(model, db_path, server):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), user_id="ana",
                  memory=AgentMemory(create_user_memories=True))
    for text in ("The user likes tea.", "The user lives in Porto."):
        server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
            "memory": text, "topics": []}}]), kind="memory")
        agent.run("I " + text.split("user ", 1)[1])
        assert agent.memory.wait(30)
    agent.run("Where do I live?")
    lines = memory_lines(server.of("chat")[-1]["messages"][0]["content"])
    assert lines == ["- The user likes tea.", "- The user lives in Porto."]


NO_FACT = ["```python\nimport pandas as pd\ndf = pd.read_csv('x.csv')\n```",
           "df.groupby('a').sum()", "What was my first message?", "Summarize our conversation",
           "What did I just say?"]


def test_messages_without_a_fact_make_no_memory_call(model, db_path, server):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), user_id="ana",
                  memory=AgentMemory(create_user_memories=True))
    for text in NO_FACT:
        agent.run(text)
    assert agent.memory.wait(30)
    assert server.of("memory") == []
    agent.run("My name is Ana and I live in Porto")
    assert agent.memory.wait(30)
    assert len(server.of("memory")) == 1


@pytest.mark.parametrize("text", ["I like tea", "My name is Ana", "hi there",
                                  "I live in Porto. What did I ask before?",
                                  "Explain this code:\n```\nx = 1\n```"])
def test_messages_that_may_hold_a_fact_go_to_the_manager(text):
    assert may_hold_a_fact(text)


@pytest.mark.parametrize("text", ["", "   \n", *NO_FACT])
def test_messages_that_cannot_hold_a_fact_are_skipped(text):
    assert not may_hold_a_fact(text)
