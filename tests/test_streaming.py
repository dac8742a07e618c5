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


def shown_chars(outputs) -> int:
    return sum(len(v) for out in outputs for v in out.data.values())


def stream_into_view(text: str, piece: int, **view_options):
    from IPython.utils.capture import capture_output

    from jupyter_agentmem.render import ReplyView
    from jupyter_agentmem.types import RunResponse

    with capture_output() as out:
        view = ReplyView(markdown=True, use_display=True, **view_options)
        for i in range(0, len(text), piece):
            view.add(text[i:i + piece])
        view.finish(RunResponse(content=text, run_id="r", session_id="s", model="m"))
    return out.outputs


def test_a_long_stream_sends_a_bounded_number_of_bytes(shell):
    """Each update resends the whole text: before the byte budget, a 100 KB reply in
    1,000 deltas sent ~100 MB of updates (1 MB: 454 MB); now a few times the text."""
    text = ("Lorem ipsum dolor sit amet, *consectetur* adipiscing elit.\n" * 2000)[:100_000]
    outputs = stream_into_view(text, 100, min_interval_s=0.0)
    final = 2 * len(text) + 200  # the last display: Markdown and plain, with the footer
    assert shown_chars(outputs) <= 8 * len(text) + 256_000 + final
    assert len(outputs) > 3  # it still streams
    # The final display is the whole text, in both forms.
    assert outputs[-1].data["text/markdown"].split("\n\n---\n")[0] == text
    assert outputs[-1].data["text/plain"].startswith(text + "\n\n-- session s · m")


def test_updates_are_throttled_by_time_too(shell):
    text = "word " * 2000
    outputs = stream_into_view(text, 5, min_interval_s=3600)
    assert len(outputs) == 2  # the first piece, then the final text
    assert outputs[-1].data["text/markdown"].split("\n\n---\n")[0] == text


def test_a_long_streamed_reply_is_shown_and_stored_whole(shell, server, db_path):
    from IPython.utils.capture import capture_output

    long = "A line of a long reply, with *markdown* and `code`.\n" * 6000  # ~300 KB
    server.script(Reply(content=long))
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=long stream=on", "tell me a lot")
    assert out.outputs[-1].data["text/markdown"].split("\n\n---\n")[0] == long
    assert shown_chars(out.outputs) <= 10 * len(long) + 256_000
    assert stored(db_path, "long").messages[1].content == long
