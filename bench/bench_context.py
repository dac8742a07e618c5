"""What issue 9 adds per turn: ``{name}`` interpolation, and storing the request sent.

    .venv/bin/python bench/bench_context.py [--turns 400]

1. ``notebook.context.interpolate`` on typical cells (median of 200 calls each): a
   DataFrame of 1,000,000 rows, a 10-million-item list, ``{In[n]}``, and a 20 KB cell of
   code/JSON braces that name nothing.
2. ``Agent.run`` per turn (DuckDB file, history of 3 runs, instant local server) with
   the request stored (``run_contexts`` + ``request_parts``) and without (the write
   replaced by a no-op), interleaved in blocks of 20 turns so machine noise hits both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd
from timing import median_ms  # noqa: E402 (bench/ is the script's folder)

from jupyter_agentmem import Agent, OpenAIChat
from jupyter_agentmem.model.server import ChatServer, Reply
from jupyter_agentmem.notebook.context import interpolate
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store.sql import contexts


def bench_interpolation() -> None:
    namespace = {
        "df": pd.DataFrame({"a": np.arange(1_000_000), "b": np.linspace(0, 1, 1_000_000),
                            "c": ["text"] * 1_000_000}),
        "big": list(range(10_000_000)),
        "In": ["", "x = 1", "df.describe()"],
    }
    code = ('def f(d):\n    return {k: v for k, v in d.items()}\n{"a": {"b": [1, 2]}}\n'
            * 300)[:20_000]
    cells = {
        "{df} (1,000,000 rows)": "Explain {df} please",
        "{big} (10M-item list)": "What is in {big}?",
        "{In[2]}": "Why is {In[2]} slow?",
        "20 KB of braces, no names": code,
        "no braces (baseline)": "Tell me about pandas. " * 50,
    }
    print(f"{'cell':<28} {'interpolate ms':>15} {'chars out':>10}")
    for label, text in cells.items():
        out = interpolate(text, namespace, 4000)
        ms = median_ms(lambda t=text: interpolate(t, namespace, 4000), 200)
        print(f"{label:<28} {ms:>15.3f} {len(out):>10}")


def bench_turns(turns: int) -> None:
    real_write = contexts.write
    with tempfile.TemporaryDirectory() as tmp, ChatServer(
            lambda body: Reply(content="An instant answer of a few words.")) as server:
        model = OpenAIChat(id="bench", base_url=server.base_url, api_key="bench",
                           max_retries=0)
        agent = Agent(model=model, storage=DuckDbAgentStorage(
                          db_file=os.path.join(tmp, "bench.duckdb")),
                      add_history_to_messages=True, num_history_responses=3,
                      description="You are a benchmark.", session_id="bench")
        agent.run("warm-up")
        timings: dict[bool, list[float]] = {True: [], False: []}
        for block in range(turns // 20):
            stored = block % 2 == 0
            contexts.write = real_write if stored else (lambda con, run, lock: None)
            for i in range(20):
                t0 = time.perf_counter()
                agent.run(f"Turn {block}-{i}: tell me something short.")
                timings[stored].append((time.perf_counter() - t0) * 1000)
        contexts.write = real_write
        parts = len(agent.store.table_rows("request_parts"))
        kept = len(agent.store.table_rows("run_contexts"))
    on, off = statistics.median(timings[True]), statistics.median(timings[False])
    print(f"\nAgent.run per turn, {turns} turns ({turns // 2} each way, interleaved):")
    print(f"  request stored     {on:.2f} ms (median)")
    print(f"  request not stored {off:.2f} ms (median)")
    print(f"  difference         {on - off:+.2f} ms; {kept} requests kept in {parts} "
          "distinct message rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.1f}")
    bench_interpolation()
    bench_turns(args.turns)


if __name__ == "__main__":
    main()
