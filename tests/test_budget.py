"""History by tokens: ``history=2k`` never overflows the model's window (issue 9, point 4)."""

from __future__ import annotations

import random

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from jupyter_agentmem.model.server import ChatServer, Reply, prompt_tokens
from jupyter_agentmem.store import DuckDbStore

WINDOW = 2000


class WindowServer(ChatServer):
    """Rejects, like a real provider, any prompt over its context window."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(self._respond)
        self.rng = rng
        self.prompts: list[int] = []
        self.rejected = 0
        self.bodies: list[dict] = []

    def _respond(self, body):
        tokens = prompt_tokens(body)
        self.prompts.append(tokens)
        self.bodies.append(body)
        if tokens > WINDOW:
            self.rejected += 1
            return Reply(status=400, content=f"context_length_exceeded: {tokens} > {WINDOW}")
        return Reply(content="r" * self.rng.randint(1, 3000))


def random_text(rng: random.Random) -> str:
    n = rng.choice([rng.randint(1, 200), rng.randint(200, 4000), rng.randint(4000, 14000)])
    return "".join(rng.choice("abcdefgh éü\n{}\"") for _ in range(n))


def test_200_turns_with_a_token_budget_never_overflow(shell, db_path):
    rng = random.Random(2)
    server = WindowServer(rng).start()
    try:
        shell.run_line_magic("config", f"AgentMagics.base_url = '{server.base_url}'")
        sent = [random_text(rng) for _ in range(200)]
        with capture_output():
            for text in sent:
                shell.run_cell_magic("agent", "session=budget history=2k context=off", text)
    finally:
        server.stop()
    assert server.rejected == 0
    assert len(server.prompts) == 200 and max(server.prompts) <= WINDOW
    # History was used as far as the budget allowed, and oversize messages were cut...
    assert max(len(b["messages"]) for b in server.bodies) >= 5
    cut = [i for i, b in enumerate(server.bodies) if "[... cut: this message is ~" in
           b["messages"][-1]["content"]]
    assert cut and all(len(sent[i]) > 4 * 1000 for i in cut)
    # ... while the store keeps every message whole, and every run worked.
    store = DuckDbStore(db_path)
    runs = store.session_runs("budget")
    store.close()
    assert [r.status for r in runs] == ["ok"] * 200
    assert [r.messages[0].content for r in runs] == [t.strip() for t in sent]  # the magic strips


def test_budget_fills_with_recent_runs_and_the_summary_covers_the_rest(shell, server):
    with capture_output():
        for i in range(12):
            shell.run_cell_magic("agent", "session=sb summary=on", f"turn {i} " + "w" * 400)
    from jupyter_agentmem import runtime

    assert runtime.idle(30)
    server.reset()
    with capture_output():
        shell.run_cell_magic("agent", "session=sb summary=on history=1k", "now")
    (body,) = server.of("chat")
    users = [m["content"] for m in body["messages"] if m["role"] == "user"]
    # ~110 tokens per earlier user message + its echo: only the newest few fit in 1k.
    assert 1 <= len(users) - 1 < 12 and users[-2].startswith("turn 11 ")
    assert "<summary>" in body["messages"][0]["content"]
    assert prompt_tokens(body) <= 1000


@pytest.mark.parametrize("value", ["2x", "0.1k", "k", "-1k", "1e3k"])
def test_bad_budgets_are_usage_errors(shell, server, value):
    with pytest.raises(UsageError, match="token budget of at least 200"):
        shell.run_cell_magic("agent", "history=" + value, "hi")
    assert server.requests == []


def test_the_servers_usage_calibrates_the_budget(model, server):
    from jupyter_agentmem import Agent, runtime
    from jupyter_agentmem.memory.request import calibration

    runtime.reset()
    agent = Agent(model=model, add_history_to_messages=True, session_id="cal")
    for i in range(30):
        agent.run(f"turn {i} " + "v" * 200)
    # The test server counts as we estimate: the ratio it reports is exactly 1.
    assert calibration().ratio("test-model") == 1.0
    agent.history_tokens = 1000
    full = agent.build_request("x")
    assert 900 < full.estimated_total <= 1000
    # A server that reports twice our estimate halves what we send.
    calibration().observe("test-model", 100, 200)
    half = agent.build_request("x")
    assert 400 < half.estimated_total <= 500
    runtime.reset()
    assert calibration().ratio("test-model") == 1.0
