"""A long history costs what its bytes cost: the openai client's per-message work is skipped.

``create()`` walks every typed argument against the SDK's TypedDicts (~0.13 ms per
message, 27 ms of a 29 ms call with 200 messages: bench/bench_request_size.py);
``OpenAIChat`` passes the messages and tools as ``extra_body``, which the SDK sends as
they are. These tests check that the bytes sent are the same as through the typed path,
and that the Python work of a call does not grow with the number of messages (a count
of function calls, not a timing).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from model_server import Reply

TOOLS = [{"type": "function", "function": {
    "name": "add_memory", "description": "Add a memory",
    "parameters": {"type": "object", "properties": {"memory": {"type": "string"}},
                   "required": ["memory"]}}}]


def history(n: int) -> list[dict[str, Any]]:
    """A system message, ``n`` history messages of every shape we send, the new message."""
    out: list[dict[str, Any]] = [{"role": "system", "content": "You are helpful. {braces}"}]
    for i in range(n):
        if i % 4 == 3:
            out.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{i}", "type": "function",
                 "function": {"name": "add_memory", "arguments": '{"memory": "x"}'}}]})
            out.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "done"})
        else:
            out.append({"role": "user" if i % 2 == 0 else "assistant", "name": "ann",
                        "content": f"message {i} \u00e9\u4e2d \"quoted\" \\ lorem ipsum"})
    out.append({"role": "user", "content": "the new message"})
    return out


def sent_body(server) -> str:
    """The last request's body as the server parsed it, keys in the order sent."""
    return json.dumps(server.requests[-1]["body"])


def test_streamed_request_sends_what_the_typed_path_sends(server, model):
    messages = history(12)
    for _ in model.response_stream(messages):
        pass
    ours = sent_body(server)
    chunks = model.client.chat.completions.create(
        model=model.id, messages=messages, stream=True, stream_options={"include_usage": True})
    for _ in chunks:
        pass
    assert ours == sent_body(server)
    assert json.loads(ours)["messages"] == messages


def test_whole_request_with_tools_sends_what_the_typed_path_sends(server, model):
    messages = history(6)
    fmt = {"type": "json_object"}
    server.script(Reply(content="ok"), Reply(content="ok"), kind="memory")
    model.response(messages, tools=TOOLS, response_format=fmt)
    ours = sent_body(server)
    model.client.chat.completions.create(model=model.id, messages=messages, tools=TOOLS,
                                         response_format=fmt)
    assert ours == sent_body(server)
    assert json.loads(ours)["tools"] == TOOLS


def python_calls(call) -> int:
    """How many Python functions run in this thread during ``call()``."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call":
            count += 1

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_python_work_of_a_call_does_not_grow_with_the_history(server, model, stream):
    def call(n: int):
        messages = history(n)
        if stream:
            return lambda: list(model.response_stream(messages))
        return lambda: model.response(messages)

    call(1)()  # the first call opens the connection and fills the SDK's caches
    one, many = python_calls(call(1)), python_calls(call(200))
    # Before: ~200 calls per message in the SDK's transform (40,000+ for 200 messages).
    assert many < one + 200, (one, many)
