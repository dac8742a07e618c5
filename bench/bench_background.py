"""Background model calls per turn, and their tokens, over a 200-turn session with user
memories and session summaries on: ours now, ours before issue 10, and phidata 2.7.10.

Each subject runs in a child process against one local OpenAI-compatible server
(127.0.0.1) that counts every request by kind and its tokens (the server's own
estimate, the same for every subject), so the figures do not depend on any
subject's bookkeeping:

- ``ours``: ``%%agent session=p user=ana memories=on summary=on history=3`` in an
  IPython shell, 200 cells, then the background work drained.
- ``ours-read``: the same, plus ``agent.memory.summary`` read after every turn (what
  phidata's Memory example does: it prints the summary each turn).
- ``before``: ``ours`` on another checkout (``--before PATH``, e.g. a worktree of the
  commit before issue 10: ``git worktree add --detach /tmp/before 030a2da``).
- ``phidata``: ``Agent(model=OpenAIChat(base_url), storage=SqlAgentStorage,
  memory=AgentMemory(db=SqliteMemoryDb, create_user_memories=True,
  create_session_summary=True), add_history_to_messages=True, num_history_responses=3)``
  (needs phidata 2.7.10: ``bench/.venv-baselines``, see bench_baselines.py).

The 200 messages cycle through four kinds a notebook user sends: a fact ("I like
subject 12."), a request (bench_memory.py's message), a question about the
conversation ("What did I say about subject 12?") and a code-only cell.

Run:
    .venv/bin/python bench/bench_background.py --before /tmp/before \\
        --phidata-python bench/.venv-baselines/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections import Counter
from typing import Any

from jupyter_agentmem.model.server import ChatServer, Reply, estimate_tokens, prompt_tokens

TURNS = 200
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)  # "ours" is this checkout, whatever the venv points at


def message(i: int) -> str:
    kind = i % 4
    if kind == 0:
        return f"I like subject {i}."
    if kind == 1:
        return f"Turn {i}: tell me more about subject {i}. " + "x" * 150
    if kind == 2:
        return f"What did I say about subject {i - 2}?"
    return f"```python\nprint({i})\n```"


# The system prompts of the memory managers (ours; phidata's MemoryManager) and of the
# yes/no classifiers. phidata's chat agent itself carries memory tools, so tools alone
# do not make a request a memory call.
MANAGERS = ("You manage the long-term memories", "Your task is to generate a concise memory")
CLASSIFIERS = ("respond with 'yes'", "Answer yes or no")


def kind_of(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    system = next((m.get("content") or "" for m in messages
                   if m.get("role") in ("system", "developer")), "")
    if body.get("response_format"):
        return "summary"
    if body.get("tools") and system.startswith(MANAGERS):
        return "memory"
    if any(c in system for c in CLASSIFIERS):
        return "classify"
    return "chat"


def _last_user_text(body: dict[str, Any]) -> str:
    users = [m.get("content") or "" for m in body.get("messages") or [] if m.get("role") == "user"]
    text = users[-1] if users else ""
    return text.rsplit("Latest exchange:", 1)[-1] if isinstance(text, str) else ""


class CountingResponder:
    """Answers each kind of request plausibly and counts calls and tokens per kind."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.tokens_in: Counter[str] = Counter()
        self.tokens_out: Counter[str] = Counter()
        self._guard = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Reply:
        kind = kind_of(body)
        reply = self._answer(kind, body)
        out = estimate_tokens(reply.content or json.dumps(reply.tool_calls or []))
        with self._guard:
            self.calls[kind] += 1
            self.tokens_in[kind] += prompt_tokens(body)
            self.tokens_out[kind] += out
        return reply

    def _answer(self, kind: str, body: dict[str, Any]) -> Reply:
        text = _last_user_text(body)
        liked = re.findall(r"I like ([^.\n]+)", text)
        if kind == "summary":
            return Reply(content=json.dumps({"summary": "The user talked about subjects.",
                                             "topics": ["subjects"]}))
        if kind == "memory":
            last = (body.get("messages") or [{}])[-1]
            if last.get("role") == "tool" or not liked:
                return Reply(content="Done.")
            return Reply(content=None, tool_calls=[
                {"name": "add_memory", "arguments": {"memory": f"The user likes {liked[0]}."}}])
        if kind == "classify":
            return Reply(content="yes" if liked else "no")
        return Reply(content="Noted: here is a short answer.")

    def reset(self) -> None:
        self.calls.clear()
        self.tokens_in.clear()
        self.tokens_out.clear()


OURS = textwrap.dedent("""
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config
    from jupyter_agentmem import runtime
    base_url, db, turns, read_summary = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sys.path.insert(0, sys.argv[5])
    from bench_background import message
    config = Config()
    config.AgentMagics.base_url = base_url
    config.AgentMagics.db = db
    config.AgentMagics.model = "bench"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "jupyter_agentmem")
    for i in range(turns):
        with capture_output():
            shell.run_cell_magic("agent", "session=p user=ana memories=on summary=on history=3",
                                 message(i))
            if read_summary == "yes":
                shell.run_line_magic("agent", "summary session=p user=ana")
    runtime.idle(300)
""")

PHIDATA = textwrap.dedent("""
    import os, sys
    os.environ["PHI_TELEMETRY"] = "false"
    from phi.agent import Agent, AgentMemory
    from phi.memory.classifier import MemoryClassifier
    from phi.memory.db.sqlite import SqliteMemoryDb
    from phi.memory.manager import MemoryManager
    from phi.memory.summarizer import MemorySummarizer
    from phi.model.openai import OpenAIChat
    from phi.storage.agent.sqlite import SqlAgentStorage
    base_url, db, turns = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path.insert(0, sys.argv[5])
    from bench_background import message
    def model():  # phidata's helpers default to api.openai.com: each gets the local server
        return OpenAIChat(id="bench", base_url=base_url, api_key="k")
    agent = Agent(
        model=model(),
        storage=SqlAgentStorage(table_name="agent_sessions", db_file=db),
        memory=AgentMemory(db=SqliteMemoryDb(table_name="agent_memory", db_file=db),
                           create_user_memories=True, create_session_summary=True,
                           classifier=MemoryClassifier(model=model()),
                           manager=MemoryManager(model=model()),
                           summarizer=MemorySummarizer(model=model())),
        add_history_to_messages=True, num_history_responses=3, user_id="ana",
        session_id="p", telemetry=False)
    for i in range(turns):
        agent.run(message(i))
""")


def run_subject(server: ChatServer, responder: CountingResponder, python: str, script: str,
                pythonpath: str | None, read_summary: bool, turns: int) -> dict[str, Any]:
    responder.reset()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, OPENAI_API_KEY="k-bench")
        env.pop("PYTHONPATH", None)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        db = os.path.join(tmp, "bench.duckdb" if script is OURS else "bench.db")
        subprocess.run([python, "-c", script, server.base_url, db, str(turns),
                        "yes" if read_summary else "no", HERE],
                       env=env, check=True, cwd=tmp, stdout=subprocess.DEVNULL)
    return {"calls": dict(responder.calls), "in": dict(responder.tokens_in),
            "out": dict(responder.tokens_out)}


def table(results: dict[str, dict[str, Any]], turns: int) -> str:
    lines = ["| subject | chat calls | classifier calls | memory calls | summary calls | "
             "background calls / turn | background tokens in | background tokens out | "
             "background tokens / turn |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        calls, tin, tout = r["calls"], r["in"], r["out"]
        bg = [k for k in ("classify", "memory", "summary")]
        n = sum(calls.get(k, 0) for k in bg)
        t_in = sum(tin.get(k, 0) for k in bg)
        t_out = sum(tout.get(k, 0) for k in bg)
        lines.append(f"| {name} | {calls.get('chat', 0)} | {calls.get('classify', 0)} | "
                     f"{calls.get('memory', 0)} | {calls.get('summary', 0)} | {n / turns:.2f} | "
                     f"{t_in} | {t_out} | {(t_in + t_out) / turns:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--before", help="a checkout of the code before issue 10")
    parser.add_argument("--phidata-python", help="a python with phidata 2.7.10 installed")
    args = parser.parse_args()
    responder = CountingResponder()
    results: dict[str, dict[str, Any]] = {}
    with ChatServer(responder) as server:
        if args.before:
            results["ours before issue 10"] = run_subject(
                server, responder, sys.executable, OURS, args.before, False, args.turns)
        results["ours"] = run_subject(server, responder, sys.executable, OURS, REPO, False,
                                      args.turns)
        results["ours, summary read every turn"] = run_subject(
            server, responder, sys.executable, OURS, REPO, True, args.turns)
        if args.phidata_python:
            results["phidata 2.7.10"] = run_subject(server, responder, args.phidata_python,
                                                    PHIDATA, None, False, args.turns)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.turns} turns\n")
    print(table(results, args.turns))
    for name, r in results.items():
        print(f"\n{name}: {json.dumps(r)}")


if __name__ == "__main__":
    main()
