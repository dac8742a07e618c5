"""Session summaries: incremental, versioned, used only when runs fall outside the window."""

from __future__ import annotations

import json

from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore


def summary_agent(model, db_path, history=2, session="sum") -> Agent:
    return Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                 memory=AgentMemory(create_session_summary=True),
                 add_history_to_messages=True, num_history_responses=history,
                 session_id=session, user_id="ana")


def summary_reply(text: str, *topics: str) -> Reply:
    return Reply(content=json.dumps({"summary": text, "topics": list(topics)}))


def test_summary_request_holds_previous_summary_and_only_new_runs(server, model, db_path):
    agent = summary_agent(model, db_path)
    server.script(summary_reply("Ana said hi.", "greeting"), summary_reply("Ana asked about tea.",
                  "greeting", "tea"), kind="summary")
    agent.run("hi there")
    agent.memory.wait(10)
    agent.run("tell me about tea")
    agent.memory.wait(10)
    first, second = server.of("summary")
    assert "(no summary yet)" in first["messages"][1]["content"]
    assert "User: hi there" in first["messages"][1]["content"]
    content = second["messages"][1]["content"]
    assert content.startswith("Summary so far:\nAna said hi.\n\nNew turns:\n")
    assert "User: tell me about tea" in content
    assert "hi there" not in content  # the old run is only in the summary
    assert second["response_format"]["type"] == "json_schema"
    versions = DuckDbStore(db_path).list_summaries("sum")
    assert [(s.version, s.summary, s.through_run_seq) for s in versions] == [
        (1, "Ana said hi.", 0), (2, "Ana asked about tea.", 1)]
    assert agent.memory.summary.topics == ["greeting", "tea"]


def test_summary_joins_the_prompt_only_when_runs_fall_outside_the_window(server, model, db_path):
    agent = summary_agent(model, db_path, history=2)
    for i in range(3):
        server.script(summary_reply(f"summary after run {i}"), kind="summary")
        agent.run(f"message {i}")
        agent.memory.wait(10)
        system = next((m["content"] for m in server.of("chat")[-1]["messages"]
                       if m["role"] == "system"), "")
        assert "<summary>" not in system  # runs 0..2 all fit a window of 2 before run 2
    agent.run("message 3")  # history = runs 1, 2; run 0 is outside: the summary goes in
    messages = server.of("chat")[-1]["messages"]
    assert messages[0]["role"] == "system"
    assert "<summary>\nsummary after run 2\n</summary>" in messages[0]["content"]
    assert [m["content"] for m in messages[1:]] == [
        "message 1", "echo: message 1", "message 2", "echo: message 2", "message 3"]


def test_server_without_json_schema_falls_back(server, model, db_path):
    agent = summary_agent(model, db_path)
    server.script(Reply(status=400, content="response_format json_schema unsupported"),
                  Reply(content="```json\n" + json.dumps({"summary": "fenced", "topics": []})
                        + "\n```"), kind="summary")
    agent.run("hello")
    agent.memory.wait(10)
    formats = [b["response_format"]["type"] for b in server.of("summary")]
    assert formats == ["json_schema", "json_object"]
    assert agent.memory.summary.summary == "fenced"


def test_broken_summary_answer_stores_nothing_and_warns(server, model, db_path):
    from jupyter_agentmem.memory import take_failures

    agent = summary_agent(model, db_path)
    take_failures()
    server.script(Reply(content="not json at all"), kind="summary")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent.run("hello")
        agent.memory.wait(10)
    assert agent.memory.summary is None
    failures = take_failures()
    assert len(failures) == 1 and "not usable JSON" in failures[0]
