"""Streaming and non-streaming replies store the same run, with usage and latency."""

from __future__ import annotations

from model_server import Reply

from jupyter_agentmem import Agent
from jupyter_agentmem.model.server import estimate_tokens, prompt_tokens
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

LONG = "A reply long enough to arrive in several chunks: " + "lorem ipsum " * 20


def stored(db_path: str, session: str):
    (run,) = DuckDbStore(db_path).session_runs(session)
    return run


def test_stream_and_plain_store_the_same_run(server, model, db_path):
    storage = DuckDbAgentStorage(db_file=db_path)
    plain = Agent(model=model, storage=storage, session_id="plain", description="Be brief.")
    streamed = Agent(model=model, storage=storage, session_id="streamed",
                     description="Be brief.")
    server.script(Reply(content=LONG), Reply(content=LONG))

    response = plain.run("tell me")
    deltas: list[str] = []
    streamed_response = streamed.respond("tell me", on_delta=deltas.append)

    assert len(deltas) > 3 and "".join(deltas) == LONG
    assert response.content == streamed_response.content == LONG
    a, b = stored(db_path, "plain"), stored(db_path, "streamed")
    for run in (a, b):
        assert run.status == "ok" and run.error is None and run.model == "test-model"
        assert [(m.role, m.content) for m in run.messages] == [
            ("user", "tell me"), ("assistant", LONG)]
        assert run.latency_ms is not None and run.latency_ms > 0
    # Usage as the server counted it, captured in both modes.
    plain_body, stream_body = server.of("chat")
    assert not plain_body.get("stream") and stream_body["stream"] is True
    assert stream_body["stream_options"] == {"include_usage": True}
    assert a.input_tokens == b.input_tokens == prompt_tokens(plain_body) > 0
    assert a.output_tokens == b.output_tokens == estimate_tokens(LONG) > 0
    assert (response.input_tokens, response.output_tokens) == (a.input_tokens, a.output_tokens)
    DuckDbStore(db_path).close()


def test_run_stream_yields_chunks_and_stores_one_run(server, model, db_path):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="s")
    server.script(Reply(content=LONG))
    chunks = list(agent.run("go", stream=True))
    assert len(chunks) > 3 and "".join(c.content for c in chunks) == LONG
    run = stored(db_path, "s")
    assert [m.content for m in run.messages] == ["go", LONG]
    assert run.output_tokens == estimate_tokens(LONG)
    DuckDbStore(db_path).close()


def test_magic_stream_on_and_off_show_and_store_the_same(shell, server, db_path):
    from IPython.utils.capture import capture_output

    server.script(Reply(content=LONG), Reply(content=LONG))
    texts = []
    for session, stream in (("on", "on"), ("off", "off")):
        with capture_output() as out:
            shell.run_cell_magic("agent", f"session={session} stream={stream}", "tell me")
        texts.append(out.outputs[-1].data["text/markdown"].split("\n\n---\n")[0])
    assert texts == [LONG, LONG]
    assert stored(db_path, "on").messages[1].content == stored(db_path, "off").messages[1].content
    assert [bool(b.get("stream")) for b in server.of("chat")] == [True, False]
