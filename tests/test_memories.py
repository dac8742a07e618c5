"""User memories: scripted tool calls against the real client and a real DuckDB file."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest
from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.memory import MemoryWorkWarning, take_failures
from jupyter_agentmem.memory.db import DuckDbMemoryDb
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore


def add(memory: str, *topics: str) -> dict:
    return {"name": "add_memory", "arguments": {"memory": memory, "topics": list(topics)}}


def make_agent(model, db_path, user="ana", session="s1", **memory_flags) -> Agent:
    flags = {"create_user_memories": True, **memory_flags}
    return Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                 memory=AgentMemory(db=DuckDbMemoryDb(db_file=db_path), **flags),
                 add_history_to_messages=True, session_id=session, user_id=user)


def system_of(body: dict) -> str:
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")


def kept(db_path: str, user: str) -> list[str]:
    return [m.memory for m in DuckDbStore(db_path).as_user(user).user_memories()]


def run_and_wait(agent: Agent, text: str):
    response = agent.run(text)
    assert agent.memory.wait(10)
    return response


def test_add_update_delete_then_prompt_holds_exactly_current_memories(server, model, db_path):
    agent = make_agent(model, db_path)
    server.script(Reply(tool_calls=[add("Ana's name is Ana.", "name"),
                                    add("Ana lives in Lisbon.", "location")]), kind="memory")
    run_and_wait(agent, "I'm Ana from Lisbon")
    assert kept(db_path, "ana") == ["Ana's name is Ana.", "Ana lives in Lisbon."]
    # The manager saw no memories yet; next time it sees them under short ids.
    server.script(Reply(tool_calls=[
        {"name": "update_memory", "arguments": {"memory_id": "m2", "memory": "Ana lives in Porto.",
                                                "topics": ["location"]}},
        {"name": "delete_memory", "arguments": {"memory_id": "m1"}}]), kind="memory")
    run_and_wait(agent, "I moved to Porto; forget my name")
    manager_request = server.of("memory")[-1]
    assert "[m1] Ana's name is Ana." in manager_request["messages"][1]["content"]
    assert "[m2] Ana lives in Lisbon." in manager_request["messages"][1]["content"]
    assert kept(db_path, "ana") == ["Ana lives in Porto."]
    agent.run("hello again")
    system = system_of(server.of("chat")[-1])
    assert "<memories>\n- Ana lives in Porto.\n</memories>" in system
    assert "Lisbon" not in system and "name is Ana" not in system
    assert agent.memory.memories[0].memory == "Ana lives in Porto."


def test_two_users_never_see_each_others_memories(server, model, db_path):
    # (Two users cannot share a session at all: tests/test_session_owner.py.)
    ana = make_agent(model, db_path, user="ana", session="shared")
    bob = make_agent(model, db_path, user="bob", session="bob-s")
    server.script(Reply(tool_calls=[add("Ana likes tea.", "food")]), kind="memory")
    run_and_wait(ana, "I like tea")
    server.script(Reply(tool_calls=[add("Bob likes coffee.", "food")]), kind="memory")
    run_and_wait(bob, "I like coffee")
    assert kept(db_path, "ana") == ["Ana likes tea."]
    assert kept(db_path, "bob") == ["Bob likes coffee."]
    # Bob's manager request listed only Bob's (none) memories.
    assert "Ana likes tea" not in json.dumps(server.of("memory")[-1])
    bob.run("what do I like?")
    assert "Bob likes coffee." in system_of(server.of("chat")[-1])
    assert "Ana" not in system_of(server.of("chat")[-1])
    ana.run("and me?")
    assert "Ana likes tea." in system_of(server.of("chat")[-1])
    assert "Bob" not in system_of(server.of("chat")[-1])


def _call(name: str, arguments) -> dict:
    return {"name": name, "arguments": arguments}


MALFORMED = {
    "invalid-json": [_call("add_memory", "{not json")],
    "unknown-tool": [_call("remember_everything", {"memory": "x"})],
    "unknown-id": [_call("update_memory", {"memory_id": "m9", "memory": "Ana is 30."})],
    "invented-uuid": [_call("delete_memory",
                             {"memory_id": "00000000-0000-4000-8000-000000000000"})],
    "empty-memory": [_call("add_memory", {"memory": "   ", "topics": []})],
    "array-arguments": [_call("add_memory", "[1, 2]")],
}


@pytest.mark.parametrize("calls", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_manager_answers_change_nothing_and_warn(server, model, db_path, calls):
    agent = make_agent(model, db_path)
    server.script(Reply(tool_calls=[add("Ana likes tea.", "food")]), kind="memory")
    run_and_wait(agent, "I like tea")
    before_memories = kept(db_path, "ana")
    before_events = len(DuckDbStore(db_path).as_user("ana").events())
    take_failures()
    server.script(Reply(tool_calls=calls), kind="memory")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_and_wait(agent, "something")
    assert kept(db_path, "ana") == before_memories
    assert len(DuckDbStore(db_path).as_user("ana").events()) == before_events
    failures = take_failures()
    assert len(failures) == 1 and "Skipped a memory change" in failures[0]
    assert any(issubclass(w.category, MemoryWorkWarning) for w in caught)


def test_foreign_memory_id_cannot_touch_another_user(server, model, db_path):
    bob = make_agent(model, db_path, user="bob", session="b")
    server.script(Reply(tool_calls=[add("Bob likes coffee.", "food")]), kind="memory")
    run_and_wait(bob, "I like coffee")
    bob_id = DuckDbStore(db_path).as_user("bob").user_memories()[0].memory_id
    ana = make_agent(model, db_path, user="ana", session="a")
    take_failures()
    server.script(Reply(tool_calls=[_call("delete_memory", {"memory_id": bob_id}),
                                    _call("update_memory", {"memory_id": "m1",
                                                            "memory": "hijacked"})]),
                  kind="memory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_and_wait(ana, "hi")
    assert kept(db_path, "bob") == ["Bob likes coffee."]
    assert kept(db_path, "ana") == []
    assert len(take_failures()) == 2


def test_server_error_during_memory_work_keeps_reply_and_memories(server, model, db_path):
    agent = make_agent(model, db_path)
    server.script(Reply(tool_calls=[add("Ana likes tea.", "food")]), kind="memory")
    run_and_wait(agent, "I like tea")
    take_failures()
    server.script(Reply(status=500, content="boom"), kind="memory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        response = run_and_wait(agent, "I like cake")
    assert response.content == "echo: I like cake"
    assert kept(db_path, "ana") == ["Ana likes tea."]
    failures = take_failures()
    assert len(failures) == 1 and "500" in failures[0]


def test_duplicates_are_not_stored_twice(server, model, db_path):
    agent = make_agent(model, db_path)
    server.script(Reply(tool_calls=[add("The user likes tea.", "food")]), kind="memory")
    run_and_wait(agent, "I like tea")
    server.script(Reply(tool_calls=[add("The user likes tea", "food"),
                                    add("the user LIKES tea!", "food"),
                                    add("The user likes green tea.", "food")]), kind="memory")
    run_and_wait(agent, "I really like tea")
    assert kept(db_path, "ana") == ["The user likes tea.", "The user likes green tea."]


def test_classifier_gate_skips_the_manager_when_nothing_is_worth_keeping(server, model, db_path):
    agent = make_agent(model, db_path, classify_memories=True)
    server.script(Reply(content="no"), kind="classify")
    run_and_wait(agent, "what's 2+2?")
    assert len(server.of("classify")) == 1 and server.of("memory") == []
    server.script(Reply(content="Yes."), kind="classify")
    server.script(Reply(tool_calls=[add("Ana is a pilot.", "work")]), kind="memory")
    run_and_wait(agent, "I'm a pilot")
    assert len(server.of("memory")) == 1
    assert kept(db_path, "ana") == ["Ana is a pilot."]


def test_memories_survive_a_new_process_and_events_hold_their_history(server, model, db_path):
    agent = make_agent(model, db_path)
    server.script(Reply(tool_calls=[add("Ana lives in Lisbon.", "location")]), kind="memory")
    run_and_wait(agent, "I live in Lisbon")
    server.script(Reply(tool_calls=[_call("update_memory", {"memory_id": "m1",
                                                            "memory": "Ana lives in Porto."})]),
                  kind="memory")
    run_and_wait(agent, "I moved to Porto")
    DuckDbStore(db_path).close()  # hand the file over to the child process
    code = textwrap.dedent(f"""
        import json
        from jupyter_agentmem.store import DuckDbStore
        store = DuckDbStore({db_path!r})
        mems = store.as_user("ana").user_memories()
        events = store.as_user("ana").events(target_id=mems[0].memory_id)
        print(json.dumps({{"memories": [m.memory for m in mems],
                          "events": [[e["action"], e["old"], e["new"], e["actor"]]
                                     for e in events]}}))
    """)
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, check=True, timeout=60).stdout)
    assert out["memories"] == ["Ana lives in Porto."]
    actions = [(a, json.loads(old)["memory"] if old else None, json.loads(new)["memory"], actor)
               for a, old, new, actor in out["events"]]
    assert actions == [("add", None, "Ana lives in Lisbon.", "model"),
                       ("update", "Ana lives in Lisbon.", "Ana lives in Porto.", "model")]


def test_a_users_edit_made_while_the_memory_job_runs_is_kept(server, model, db_path):
    # The manager is shown the memories as the prompt read them: an edit made before its
    # answer is applied wins; the model's update is skipped, and said.
    agent = make_agent(model, db_path)
    server.script(Reply(tool_calls=[add("Ana lives in Lisbon.", "location")]), kind="memory")
    run_and_wait(agent, "I live in Lisbon")
    server.script(Reply(tool_calls=[_call("update_memory", {
        "memory_id": "m1", "memory": "Ana lives in Porto."})], delay=1.5), kind="memory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MemoryWorkWarning)
        agent.run("I moved to Porto")
        store = DuckDbStore(db_path).as_user("ana")
        (memory,) = store.user_memories()
        store.update_memory(memory.memory_id, "Ana lives in Lisbon, Portugal.", None, "user")
        assert agent.memory.wait(10)
    assert kept(db_path, "ana") == ["Ana lives in Lisbon, Portugal."]
    assert any("changed since it was read" in f for f in take_failures())
