"""Memories and summaries off the critical path, and a prompt that stays flat.

1. Time from running a ``%%agent`` cell to its reply being complete, with memories and
   summaries on, against a server that takes 300 ms per memory/summary call; and the
   time until that background work is done (what an inline design, like phidata's,
   would make the user wait for).
2. Prompt tokens per turn (from the server's usage) over a 200-turn session with
   summaries on and a history window of 3 runs.

Run: .venv/bin/python bench/bench_memory.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from traitlets.config import Config

from jupyter_agentmem import runtime
from jupyter_agentmem.model.demo import demo_responder
from jupyter_agentmem.model.server import ChatServer
from jupyter_agentmem.store import DuckDbStore


def slow_memory_responder(delay: float):
    def respond(body):
        reply = demo_responder(body)
        if body.get("tools") or body.get("response_format"):
            return replace(reply, delay=delay)
        return reply
    return respond


def shell_for(server: ChatServer, db: str) -> InteractiveShell:
    config = Config()
    config.AgentMagics.base_url = server.base_url
    config.AgentMagics.db = db
    config.AgentMagics.model = "bench"
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "jupyter_agentmem")
    return shell


def cell_latency(turns: int = 15) -> None:
    with ChatServer(slow_memory_responder(0.3)) as server, tempfile.TemporaryDirectory() as d:
        shell = shell_for(server, os.path.join(d, "bench.duckdb"))
        cell, until_done = [], []
        for i in range(turns):
            start = time.perf_counter()
            with capture_output():
                shell.run_cell_magic("agent", "session=b user=ana memories=on summary=on",
                                     f"My name is Ana and I like topic {i}")
            cell.append((time.perf_counter() - start) * 1000)
            runtime.idle(30)
            until_done.append((time.perf_counter() - start) * 1000)
        print("## Cell time with memories + summaries on (server: 300 ms per memory call)\n")
        print("| measure | median ms | min | max |\n|---|---|---|---|")
        for name, xs in [("cell done (reply complete)", cell[1:]),
                         ("background memory + summary work done", until_done[1:])]:
            print(f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} |")
        print(f"\n({turns - 1} turns after a warm-up turn; each turn the memory worker makes "
              "2 calls of 300 ms.)\n")


def prompt_growth(turns: int = 200) -> None:
    with ChatServer(slow_memory_responder(0.0)) as server, tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "bench.duckdb")
        shell = shell_for(server, db)
        for i in range(turns):
            with capture_output():
                shell.run_cell_magic("agent", "session=p user=ana summary=on history=3",
                                     f"Turn {i}: tell me more about subject {i}. " + "x" * 150)
        runtime.idle(60)
        runs = DuckDbStore(db).session_runs("p")
        tokens = [r.input_tokens for r in runs]
        print("## Prompt tokens per turn, 200-turn session, summaries on, history=3\n")
        print("| turn | prompt tokens |\n|---|---|")
        for t in (1, 2, 3, 4, 5, 10, 50, 100, 150, 200):
            print(f"| {t} | {tokens[t - 1]} |")
        later = tokens[9:]
        print(f"\nturns 10-200: min {min(later)}, max {max(later)}, "
              f"max/min {max(later) / min(later):.2f}\n")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    cell_latency()
    prompt_growth()
