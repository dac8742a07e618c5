"""The model server's answers are untrusted input: usage figures, echoed secrets, tool calls.

Each case here once lost a run or a user's message, stored the API key, or kept the
memory worker busy; the server-fault table at the end runs them all side by side.
"""

from __future__ import annotations

import uuid

import pytest
from model_server import Reply

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

BAD_USAGE = [
    # (the usage the server sends, the input tokens stored)
    ({"prompt_tokens": 3_000_000_000, "completion_tokens": 5}, None),  # over INTEGER
    ({"prompt_tokens": 3e9, "completion_tokens": 5}, None),
    ({"prompt_tokens": "many", "completion_tokens": "few"}, None),
    ({"prompt_tokens": -4, "completion_tokens": 5}, None),
    ({"prompt_tokens": 1.5, "completion_tokens": 5}, None),
    ({"prompt_tokens": 12.0, "completion_tokens": 5}, 12),  # a whole float is a count
    ({"prompt_tokens": {"nested": [1, 2]}, "completion_tokens": [5]}, None),
    ({"prompt_tokens": True, "completion_tokens": 5}, None),
    ({"prompt_tokens": 2**31 - 1, "completion_tokens": 5}, 2**31 - 1),  # fits: kept
    ("many", None),
    ([1, 2, 3], None),
]


def agent_on(model, db_path: str) -> Agent:
    return Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                 add_history_to_messages=True, session_id="s")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(("usage", "stored_input"), BAD_USAGE,
                         ids=[repr(u)[:40] for u, _ in BAD_USAGE])
def test_untrusted_usage_never_loses_the_run(server, model, db_path, usage, stored_input,
                                             stream):
    server.script(Reply(content="the answer", usage=usage))
    deltas: list[str] = []
    response = agent_on(model, db_path).respond(
        "my message", on_delta=deltas.append if stream else None)
    assert response.status == "ok" and response.stored, response.error
    assert response.content == "the answer"
    (run,) = DuckDbStore(db_path).session_runs("s")
    assert [m.content for m in run.messages] == ["my message", "the answer"]
    assert run.input_tokens == stored_input
    assert run.output_tokens in (5, None)
    assert response.input_tokens == stored_input


KEY = "sk-test-secret"  # the model fixture's key


def every_stored_text(db_path: str) -> str:
    store = DuckDbStore(db_path)
    tables = ("sessions", "runs", "messages", "memories", "summaries", "memory_events")
    return repr([store.table_rows(t) for t in tables])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_server_echoing_the_authorization_header_never_gets_the_key_stored_or_shown(
        server, model, db_path, stream):
    from jupyter_agentmem import AgentMemory, runtime

    # Long enough that the key is split over the server's 16-character chunks.
    server.script(Reply(content="Debug: you sent <authorization> to me, and that is all."))
    server.script(Reply(content="", tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "The user's header is <authorization>", "topics": ["auth <authorization>"]}}]),
        kind="memory")
    server.script(Reply(content='{"summary": "key <authorization>", "topics": ["x"]}'),
                  kind="summary")
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="s",
                  memory=AgentMemory(create_user_memories=True, create_session_summary=True))
    deltas: list[str] = []
    response = agent.respond("hi", on_delta=deltas.append if stream else None)
    assert runtime.idle(30)
    headers = {k.lower(): v for k, v in server.requests[0]["headers"].items()}
    assert headers["authorization"] == "Bearer " + KEY  # it did echo
    assert response.content == "Debug: you sent Bearer *** to me, and that is all."
    if stream:
        assert "".join(deltas) == response.content
        assert all(KEY not in d for d in deltas)
    stored = every_stored_text(db_path)
    assert "Bearer ***" in stored and "header is Bearer ***" in stored
    assert KEY not in stored and "sk-test" not in stored


def test_an_error_echoing_the_key_is_scrubbed(server, model, db_path):
    server.script(Reply(status=500, content="bad credentials: <authorization>"))
    response = agent_on(model, db_path).respond("hi")
    assert response.status == "error" and "Bearer ***" in response.error
    assert KEY not in every_stored_text(db_path)


def test_base_url_credentials_are_scrubbed_from_replies_and_repr(server, db_path):
    from jupyter_agentmem import OpenAIChat

    base_url = server.base_url.replace("http://", "http://ana:pw-hunter22@")
    model = OpenAIChat(id="m", base_url=base_url, max_retries=0, timeout=10)
    assert "pw-hunter22" not in repr(model) and "ana:***@" not in repr(model)
    assert repr(model).startswith("OpenAIChat(id='m', base_url='http://***@127.0.0.1")
    server.script(Reply(content="I was called with pw-hunter22 by ana-the-user"))
    response = agent_on(model, db_path).respond("hi", on_delta=lambda d: None)
    assert response.status == "ok" and "pw-hunter22" not in response.content
    assert "pw-hunter22" not in every_stored_text(db_path)


@pytest.mark.parametrize(("body", "content_type", "said"), [
    (b"<html><body>Please log in</body></html>", "text/html", "an HTML page"),
    (b'{"error": "streaming not supported"}', "application/json", "JSON"),
    (b"", "text/plain", "an empty answer"),
], ids=["html", "json", "empty"])
def test_a_200_that_is_not_a_stream_says_what_it_was(server, model, db_path, body,
                                                      content_type, said):
    server.script(Reply(raw_body=body, raw_content_type=content_type))
    response = agent_on(model, db_path).respond("hello", on_delta=lambda d: None)
    assert response.status == "error"
    assert said in response.error and "closed the stream" not in response.error
    assert content_type in response.error
    (run,) = DuckDbStore(db_path).session_runs("s")
    assert run.status == "error" and [m.content for m in run.messages] == ["hello"]


def memory_call(memory, topics=None) -> dict:
    arguments = {"memory": memory, **({"topics": topics} if topics is not None else {})}
    return {"name": "add_memory", "arguments": arguments}


def run_memory_answer(server, model, db_path, calls):
    from jupyter_agentmem.memory.user_memories import update_user_memories
    from jupyter_agentmem.types import Message, Run

    store = DuckDbStore(db_path)
    server.script(Reply(content="", tool_calls=calls), kind="memory")
    run = Run(session_id="s", messages=[Message(role="user", content="facts about me")])
    return store, update_user_memories(store, model, run, "ana")


def test_a_memory_answer_with_500_tool_calls_applies_20_and_warns(server, model, db_path):
    calls = [memory_call(f"Fact number {i} is {'xyz' * (i % 7)} {i * 7919}.") for i in range(500)]
    store, result = run_memory_answer(server, model, db_path, calls)
    assert len(result.added) == 20
    assert [m.memory for m in store.as_user("ana").user_memories()] == [
        c["arguments"]["memory"] for c in calls[:20]]
    assert result.skipped == ["480 more tool calls in one answer ignored (at most 20 are applied)"]


BAD_CALLS = [  # (a call the model sends, what the warning says)
    (memory_call("x" * 1_000_000), "1000000 characters (at most 2000)"),
    (memory_call("The user has many topics.", [f"t{i}" for i in range(10_000)]),
     "10000 topics (at most 10)"),
    (memory_call("The user likes nulls.", [None, 1, {}]), "topics must be strings"),
    (memory_call("The user likes dicts.", {"x": 1}), "topics must be a list of strings"),
    (memory_call("The user likes long topics.", ["y" * 51]), "longer than 50 characters"),
    (memory_call("The user is \ud800 here."), "lone surrogate"),
    (memory_call("The user is \x00 here."), "NUL byte"),
    (memory_call("A fine memory.", ["ok \udfff"]), "lone surrogate"),
    (memory_call(12345), "empty memory"),
]


def test_each_bad_memory_call_is_skipped_and_the_rest_applied(server, model, db_path):
    good = [memory_call("The user's name is Ana.", ["name"]),
            memory_call("The user lives in Porto.", "place")]
    calls = [good[0], *(c for c, _ in BAD_CALLS), good[1]]
    store, result = run_memory_answer(server, model, db_path, calls)
    kept = store.as_user("ana").user_memories()
    assert [(m.memory, m.topics) for m in kept] == [
        ("The user's name is Ana.", ["name"]), ("The user lives in Porto.", ["place"])]
    assert len(result.skipped) == len(BAD_CALLS)
    for problem, (_, said) in zip(result.skipped, BAD_CALLS):
        assert said in problem, (problem, said)


# --- the server-fault table: each fault, one agent turn with memories on ----------------
def _usage_overflow(server):
    server.script(Reply(content="fine", usage={"prompt_tokens": 3_000_000_000,
                                               "completion_tokens": 2**40}))


def _string_usage(server):
    server.script(Reply(content="fine", usage={"prompt_tokens": "many",
                                               "completion_tokens": {"x": []}}))


def _calls_500(server):
    server.script(Reply(content="fine"))
    server.script(Reply(content="", tool_calls=[
        {"name": "add_memory", "arguments": {"memory": f"The user knows {uuid.uuid4().hex}."}}
        for i in range(500)]), kind="memory")


def _memory_1mb(server):
    server.script(Reply(content="fine"))
    server.script(Reply(content="", tool_calls=[
        {"name": "add_memory", "arguments": {"memory": "m" * 1_000_000}},
        {"name": "add_memory", "arguments": {"memory": "The user's name is Ana."}}]),
        kind="memory")


def _echoed_key(server):
    server.script(Reply(content="fine <authorization>"))
    server.script(Reply(content="", tool_calls=[
        {"name": "add_memory", "arguments": {"memory": "Key: <authorization>"}}]), kind="memory")


SERVER_FAULTS = {  # name: (script the fault, the memories kept afterwards)
    "usage_overflow": (_usage_overflow, 0),
    "string_usage": (_string_usage, 0),
    "500_tool_calls": (_calls_500, 20),
    "1mb_memory": (_memory_1mb, 1),
    "echoed_key": (_echoed_key, 1),
    "dropped_postgres_connection": (None, 0),
}


@pytest.mark.parametrize("fault", list(SERVER_FAULTS))
def test_server_fault_table(server, model, request, fault):
    from jupyter_agentmem import AgentMemory, runtime
    from jupyter_agentmem.storage import AgentStorage
    from jupyter_agentmem.store import open_store

    script, memories_kept = SERVER_FAULTS[fault]
    location = request.getfixturevalue("pg_url")
    store = open_store(location).as_user("ana")
    agent = Agent(model=model, storage=AgentStorage(store), session_id="s", user_id="ana",
                  memory=AgentMemory(create_user_memories=True))
    if script is None:  # the server side: PostgreSQL drops the agent's connection
        from test_postgres_faults import kill_backends

        store.count_runs("s")
        assert kill_backends(location) == 1
    else:
        script(server)
    response = agent.respond("my message", on_delta=lambda d: None)
    assert runtime.idle(60)
    assert response.status == "ok" and response.stored, response.error
    (run,) = store.session_runs("s")
    assert run.messages[0].content == "my message" and run.status == "ok"
    assert run.input_tokens is None or 0 <= run.input_tokens < 2**31
    kept = store.as_user("ana").user_memories()
    assert len(kept) == memories_kept
    assert all(len(m.memory) <= 2000 for m in kept)
    assert KEY not in repr([store.table_rows(t) for t in ("runs", "messages", "memories")])
