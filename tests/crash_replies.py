"""The scripted answers of the SIGKILL test (shared by the test and its child process)."""

from __future__ import annotations

import json
from typing import Any

from model_server import kind_of

from jupyter_agentmem.model.server import Reply

REPLY = "".join(f"word{i} " for i in range(60))


def crash_responder(body: dict[str, Any]) -> Reply:
    """Chat: a streamed reply after a first-token delay; memory: one new memory per turn;
    summary: a fixed summary."""
    kind = kind_of(body)
    if kind == "memory":
        said = body["messages"][-1]["content"][-80:]
        return Reply(content="", tool_calls=[{"name": "add_memory", "arguments": {
            "memory": "The user said " + said, "topics": ["crash"]}}], delay=0.01)
    if kind == "summary":
        return Reply(content=json.dumps({"summary": "a summary", "topics": ["t"]}),
                     delay=0.01)
    if kind == "classify":
        return Reply(content="yes")
    return Reply(content=REPLY, delay=0.02, chunk_delay=0.002)
