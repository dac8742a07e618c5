"""A failed model call: a clear message in the cell, a failed run stored with the
user's message, left out of later history; the next cell works; the key never shows."""

from __future__ import annotations

import socket

import pytest
from IPython.utils.capture import capture_output
from model_server import Reply, roles_and_contents

from jupyter_agentmem import Agent, ModelError
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

KEY = "sk-test-secret"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def shown(out) -> str:
    """Everything a cell showed: stdout, stderr and the final state of each display."""
    parts = [out.stdout, out.stderr]
    parts += [o.data.get("text/markdown", "") + o.data.get("text/plain", "") for o in out.outputs]
    return "\n".join(parts)


# name -> (how to make the call fail, words the cell must show)
FAILURES = {
    "http_500": ({"reply": Reply(status=500, content="the GPU caught fire")},
                 ["(500)", "the GPU caught fire"]),
    "http_429": ({"reply": Reply(status=429, content="slow down")},
                 ["429", "rate limiting"]),
    "timeout": ({"reply": Reply(content="too late", delay=1.5), "timeout": 0.3},
                ["timeout"]),
    "connection_refused": ({"closed_port": True}, ["Could not reach the model server"]),
    "stream_cut": ({"reply": Reply(content="this reply is cut off somewhere " * 4,
                                   cut_after=2)},
                   ["closed the stream before the reply was complete"]),
    "key_in_error_body": ({"reply": Reply(status=400, content=f"Bad key: {KEY}")},
                          ["(400)", "Bad key: ***"]),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_model_error_in_cell(shell, server, db_path, name):
    how, words = FAILURES[name]
    with capture_output() as before:
        shell.run_cell_magic("agent", "session=err", "first question")
    assert "echo: first question" in shown(before)

    if "timeout" in how:
        shell.run_line_magic("config", f"AgentMagics.timeout = {how['timeout']}")
    if how.get("closed_port"):
        shell.run_line_magic("config", f"AgentMagics.base_url = {closed_port_url()!r}")
    if "reply" in how:
        server.script(how["reply"])
    with capture_output() as failed:
        shell.run_cell_magic("agent", "session=err", "this one fails")
    text = shown(failed)
    assert "Model error" in text and "Your message was kept" in text
    for word in words:
        assert word in text
    assert "echo: this one fails" not in text

    shell.run_line_magic("config", "AgentMagics.timeout = 10.0")
    shell.run_line_magic("config", f"AgentMagics.base_url = {server.base_url!r}")
    with capture_output() as after:
        shell.run_cell_magic("agent", "session=err", "next question")
    assert "echo: next question" in shown(after) and "Model error" not in shown(after)
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "first question"), ("assistant", "echo: first question"),
        ("user", "next question")]

    runs = DuckDbStore(db_path).session_runs("err")
    assert [(r.seq, r.status) for r in runs] == [(0, "ok"), (1, "error"), (2, "ok")]
    failed_run = runs[1]
    assert failed_run.messages[0].role == "user"
    assert failed_run.messages[0].content == "this one fails"
    assert failed_run.error and KEY not in failed_run.error
    assert failed_run.latency_ms is not None
    for out in (before, failed, after):
        assert KEY not in shown(out)
    history = shell.run_line_magic("agent", "history session=err columns=all")
    assert list(history["status"]) == ["ok", "ok", "error", *["error"] * (
        len(failed_run.messages) - 1), "ok", "ok"]
    assert KEY not in history.to_string()


def test_agent_run_raises_model_error_and_keeps_message(server, model, db_path):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="api",
                  add_history_to_messages=True)
    server.script(Reply(status=503, content="overloaded"))
    with pytest.raises(ModelError, match="503"):
        agent.run("hello?")
    assert agent.run("again").content == "echo: again"
    assert roles_and_contents(server.of("chat")[-1]) == [("user", "again")]
    runs = DuckDbStore(db_path).session_runs("api")
    assert [(r.status, r.messages[0].content) for r in runs] == [
        ("error", "hello?"), ("ok", "again")]
    assert [m.content for m in agent.memory.messages] == ["again", "echo: again"]
    DuckDbStore(db_path).close()


def test_cut_stream_keeps_the_partial_reply_out_of_history(server, model, db_path):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="cut",
                  add_history_to_messages=True)
    server.script(Reply(content="partial words that never finish " * 3, cut_after=2))
    deltas: list[str] = []
    response = agent.respond("stream please", on_delta=deltas.append)
    assert response.status == "error" and response.content is None
    assert deltas  # something arrived before the cut
    (run,) = DuckDbStore(db_path).session_runs("cut")
    assert run.status == "error"
    assert [m.role for m in run.messages] == ["user", "assistant"]
    assert run.messages[1].content == "".join(deltas)
    agent.run("fresh start")
    assert roles_and_contents(server.of("chat")[-1]) == [("user", "fresh start")]
    DuckDbStore(db_path).close()


def test_key_never_in_repr_or_config(model):
    assert KEY not in repr(model)
    assert KEY not in str(vars(model).get("base_url"))
