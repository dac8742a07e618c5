"""What the model saw: every run stores its request; ``%agent context``, ``dry=on``,
``debug=on`` (issue 9, point 3)."""

from __future__ import annotations

import json
import random

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from outputs import shown_text

from jupyter_agentmem.store import DuckDbStore, open_store
from jupyter_agentmem.types import CONTEXT_PARTS, Message, Run, RunContext


def line(shell, text: str) -> str:
    with capture_output() as out:
        shell.run_line_magic("agent", text)
    return shown_text(out)


def cell(shell, options: str, text: str):
    with capture_output() as out:
        shell.run_cell_magic("agent", options, text)
    return out


def random_message(rng: random.Random) -> str:
    alphabet = "abc xyz {}[]\"'\\\n\té€😀<>&$"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))


def test_agent_context_is_byte_for_byte_what_the_server_received(shell, server, db_path):
    rng = random.Random(9)
    shell.run_line_magic("config", "AgentMagics.system = 'Be brief. {not a variable}'")
    for i in range(100):
        server.reset()
        cell(shell, f"session=ctx100 history={rng.randint(0, 4)} context=off",
             random_message(rng))
        (body,) = server.of("chat")
        assert line(shell, "context session=ctx100 json=on") == json.dumps(
            body["messages"], ensure_ascii=False, indent=2) + "\n", i
    store = DuckDbStore(db_path)
    runs = store.session_runs("ctx100")
    assert len(runs) == 100
    # The system text was sent 100 times and is stored once.
    parts = store.table_rows("request_parts")
    assert sum("Be brief." in p["body"] for p in parts) == 1
    store.close()


def test_readable_context_and_the_token_split(shell, server, db_path):
    cell(shell, "session=split system=Terse", "first")
    cell(shell, "session=split", "second message")
    text = line(shell, "context session=split")
    (body,) = server.of("chat")[-1:]
    for message in body["messages"]:
        assert f"--- {message['role']} ---\n{message['content']}" in text
    store = DuckDbStore(db_path)
    run = store.session_runs("split")[-1]
    context = store.run_context(run.run_id)
    store.close()
    # Scaled to the input tokens the server reported: the parts add up to them exactly.
    assert context.estimated is False
    assert sum(context.tokens.values()) == run.input_tokens
    assert set(context.tokens) == set(CONTEXT_PARTS)
    assert context.tokens["history"] > 0 and context.tokens["message"] > 0
    assert context.tokens["memories"] == context.tokens["summary"] == 0
    assert f"total {run.input_tokens} (scaled to the input tokens" in text
    # An older run by id.
    first = line(shell, f"context run={DuckDbStore(db_path).session_runs('split')[0].run_id}")
    DuckDbStore(db_path).close()
    assert "--- user ---\nfirst" in first and "second message" not in first


def test_dry_run_sends_nothing_and_stores_nothing(shell, server, db_path):
    shell.user_ns["n"] = 41
    cell(shell, "session=dry", "earlier")
    server.reset()
    store = DuckDbStore(db_path)
    before = {t: len(store.table_rows(t)) for t in ("runs", "messages", "request_parts")}
    store.close()
    out = cell(shell, "session=dry dry=on", "what is {n} + 1?")
    assert server.requests == []
    assert out.outputs == []  # no reply display
    assert out.stdout.startswith("Dry run: nothing was sent or stored.\ntokens: ")
    assert "--- user ---\nearlier\n\n--- assistant ---\necho: earlier" in out.stdout
    assert out.stdout.rstrip("\n").endswith("--- user ---\nwhat is 41 + 1?")
    store = DuckDbStore(db_path)
    assert {t: len(store.table_rows(t)) for t in before} == before
    store.close()


def test_debug_prints_what_is_sent_above_the_reply(shell, server):
    out = cell(shell, "session=dbg debug=on", "show me")
    (body,) = server.of("chat")
    assert out.stdout.startswith("Sent to the model:\ntokens: ")
    assert out.stdout.rstrip("\n").endswith("--- user ---\nshow me")
    assert body["messages"][-1]["content"] == "show me"
    assert "echo: show me" in out.outputs[-1].data["text/plain"]


def test_context_of_nothing_is_a_usage_error(shell):
    with pytest.raises(UsageError, match="has no runs yet"):
        shell.run_line_magic("agent", "context session=none-here")
    with pytest.raises(UsageError, match="No stored request for run 'nope'"):
        shell.run_line_magic("agent", "context run=nope")


def test_contexts_round_trip_on_every_backend(any_store_location):
    store = open_store(any_store_location)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "é {x} \x00?"}]
    for i in range(3):
        run = Run(session_id="rt", messages=[Message(role="user", content=str(i))],
                  context=RunContext(messages=messages + [{"role": "user", "content": str(i)}],
                                     tokens=dict.fromkeys(CONTEXT_PARTS, i)))
        store.append_run(run)
        back = store.run_context(run.run_id)
        assert back == run.context
        assert store.last_run_id("rt") == run.run_id
    # 3 runs, 5 distinct messages.
    assert len(store.table_rows("request_parts")) == 5
    # The history read never carries contexts.
    assert all(r.context is None for r in store.recent_runs("rt", 3))
    store.close()
