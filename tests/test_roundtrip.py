"""Awkward session ids and contents round-trip exactly, through the store and the magic."""

from __future__ import annotations

import shlex

import pytest
from IPython.utils.capture import capture_output
from model_server import roles_and_contents

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore

MEGABYTE = ("0123456789abcdef😀 ünïcödé; DROP TABLE runs; -- 'q' \"qq\"\n" * 20000)[:1_000_000]

SESSION_IDS = {
    "quotes": "it's a \"quoted\" `id`",
    "semicolons": "x'; DROP TABLE runs; --",
    "newlines": "line one\nline two\r\n\tindented",
    "emoji": "🧠 memory 🎉 séance",
    "braces_dollar": "{session} $HOME %(x)s \\n",
}
CONTENTS = {
    "quotes": "She said \"it's fine\"; then `rm -rf` -- nothing happened.",
    "newlines": "\n  leading and trailing whitespace kept  \n\nline\r\nend\n",
    "emoji": "🧟‍♀️🏚️ two sentences 🎃 — done.",
    "sql": "'); DELETE FROM messages WHERE ('1'='1",
    "format": "{0} {name} %s %(x)s $x \\u0000 \\n",
    "megabyte": MEGABYTE,
}


@pytest.mark.parametrize("key", list(SESSION_IDS))
def test_session_ids_roundtrip_through_the_store(server, model, db_path, key):
    session = SESSION_IDS[key]
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id=session,
                  add_history_to_messages=True)
    agent.run("one")
    # A new agent object finds the session by the same id.
    again = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  session_id=session, add_history_to_messages=True)
    again.run("two")
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "one"), ("assistant", "echo: one"), ("user", "two")]
    store = DuckDbStore(db_path)
    assert [s["session_id"] for s in store.list_sessions()] == [session]
    assert store.get_session(session).session_id == session
    assert [r.session_id for r in store.session_runs(session)] == [session, session]
    assert store.count_runs(session + " ") == 0  # no loose matching
    store.close()


@pytest.mark.parametrize("key", list(CONTENTS))
def test_contents_roundtrip_through_the_store(server, model, db_path, key):
    text = CONTENTS[key]
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="c",
                  add_history_to_messages=True)
    assert agent.run(text).content == "echo: " + text
    agent.run("next")
    assert server.of("chat")[0]["messages"][-1]["content"] == text
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", text), ("assistant", "echo: " + text), ("user", "next")]
    store = DuckDbStore(db_path)
    store.close()  # read back from the file, not from a kept connection
    run = store.session_runs("c")[0]
    assert [m.content for m in run.messages] == [text, "echo: " + text]
    assert [r["content"] for r in store.message_rows("c")][:2] == [text, "echo: " + text]
    assert [m.content for m in agent.memory.messages][:2] == [text, "echo: " + text]
    store.close()


MAGIC_SESSIONS = {k: v for k, v in SESSION_IDS.items()
                  if k not in ("newlines", "braces_dollar")}  # one line; IPython expands $ {}


@pytest.mark.parametrize("key", list(MAGIC_SESSIONS))
def test_session_ids_roundtrip_through_the_magic(shell, server, key):
    session = MAGIC_SESSIONS[key]
    line = "session=" + shlex.quote(session)
    with capture_output() as out:
        shell.run_cell_magic("agent", line, "first")
        shell.run_cell_magic("agent", line, "second")
    assert f"session `{session}`" in out.outputs[-1].data["text/markdown"]
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "first"), ("assistant", "echo: first"), ("user", "second")]
    sessions = shell.run_line_magic("agent", "sessions")
    assert list(sessions["session_id"]) == [session]
    history = shell.run_line_magic("agent", "history " + line)
    assert list(history["content"]) == ["first", "echo: first", "second", "echo: second"]


@pytest.mark.parametrize("key", list(CONTENTS))
def test_contents_roundtrip_through_the_magic(shell, server, key):
    # A cell's surrounding whitespace is not part of the message (the magic strips it).
    text = CONTENTS[key].strip()
    # Streaming 1 MB in the test server's 16-character chunks takes ~15 s, all of it in
    # the openai client building 62,500 chunk objects: the megabyte goes unstreamed.
    stream = "off" if key == "megabyte" else "on"
    with capture_output() as out:
        shell.run_cell_magic("agent", f"session=m stream={stream}", text + "\n")
    assert out.outputs[-1].data["text/markdown"].startswith("echo: " + text)
    assert server.of("chat")[-1]["messages"][-1]["content"] == text
    history = shell.run_line_magic("agent", "history session=m")
    assert list(history["content"]) == [text, "echo: " + text]
