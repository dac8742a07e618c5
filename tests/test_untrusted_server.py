"""The model server's answers are untrusted input: usage figures, echoed secrets, tool calls.

Each case here once lost a run or a user's message, stored the API key, or kept the
memory worker busy; the server-fault table at the end runs them all side by side.
"""

from __future__ import annotations

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
