"""Per-turn time of ``Agent.run`` with storage and history, against a local server.

    .venv/bin/python bench/bench_turns.py [--turns 1000] [--profile] [--db duckdb|sqlite|URL]

One session, storage on a DuckDB file (default), a SQLite file (``--db sqlite``) or a
PostgreSQL database (``--db postgresql://...``), ``add_history_to_messages=True``,
``num_history_responses=3``, against ``jupyter_agentmem.model.server.ChatServer``
on 127.0.0.1 answering instantly. For each window of turns (1-10, 91-100, 991-1000)
it prints the median ms of ``Agent.run`` and of a raw ``openai`` client call with the
same messages to the same server, so the overhead of history + storage shows; then the
median and p90 of every turn after the tenth (steadier than 10-turn windows on a
shared machine: compare two builds by alternating runs of this line).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from typing import Any

from jupyter_agentmem import Agent, OpenAIChat
from jupyter_agentmem.model.server import ChatServer, Reply
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import open_store

WINDOWS = [(1, 10), (91, 100), (991, 1000)]


def bench_agent(tmp: str, db: str, base_url: str) -> Agent:
    """The bench's agent: session ``bench``, history of 3, on ``db`` (duckdb or sqlite: a
    file in ``tmp``; else a postgresql:// URL) against the server at ``base_url``."""
    location = {"duckdb": os.path.join(tmp, "bench.duckdb"),
                "sqlite": "sqlite://" + os.path.join(tmp, "bench.sqlite")}.get(db, db)
    model = OpenAIChat(id="bench", base_url=base_url, api_key="bench", max_retries=0)
    return Agent(model=model, storage=AgentStorage(open_store(location)),
                 add_history_to_messages=True, num_history_responses=3,
                 description="You are a benchmark.", session_id="bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the last window's Agent.run calls")
    parser.add_argument("--db", default="duckdb",
                        help="duckdb or sqlite (a temporary file), or a postgresql:// URL")
    args = parser.parse_args()

    last_body: dict[str, Any] = {}

    def responder(body: dict[str, Any]) -> Reply:
        last_body.clear()
        last_body.update(body)
        return Reply(content="An instant answer of a few words.")

    windows = [(a, b) for a, b in WINDOWS if b <= args.turns]
    agent_ms: dict[tuple[int, int], list[float]] = {w: [] for w in windows}
    raw_ms: dict[tuple[int, int], list[float]] = {w: [] for w in windows}
    every_ms: list[float] = []  # turns 11..N
    profiler = cProfile.Profile() if args.profile else None

    with tempfile.TemporaryDirectory() as tmp, ChatServer(responder) as server:
        agent = bench_agent(tmp, args.db, server.base_url)
        model = agent.model
        client = model.client
        agent.run("warm-up")  # imports, the HTTP connection, the file and its schema
        for turn in range(1, args.turns + 1):
            window = next((w for w in windows if w[0] <= turn <= w[1]), None)
            message = f"Turn {turn}: tell me something short."
            if window and profiler and window == windows[-1]:
                profiler.enable()
            t0 = time.perf_counter()
            agent.run(message)
            elapsed = (time.perf_counter() - t0) * 1000
            if profiler:
                profiler.disable()
            if turn > 10:
                every_ms.append(elapsed)
            if window:
                agent_ms[window].append(elapsed)
                # The raw client: same server, the messages the agent just sent.
                t0 = time.perf_counter()
                client.chat.completions.create(model="bench", messages=last_body["messages"])
                raw_ms[window].append((time.perf_counter() - t0) * 1000)
        stored = agent.store.count_runs("bench")

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {stored} runs stored, "
          f"db {args.db.split('@')[-1]}")
    print(f"{'turns':>10} {'Agent.run ms':>13} {'raw client ms':>14} {'overhead ms':>12}")
    for w in windows:
        a, r = statistics.median(agent_ms[w]), statistics.median(raw_ms[w])
        print(f"{w[0]:>4}-{w[1]:<5} {a:>13.2f} {r:>14.2f} {a - r:>12.2f}")
    first, last = windows[0], windows[-1]
    ratio = statistics.median(agent_ms[last]) / statistics.median(agent_ms[first])
    print(f"turn {last[1]} / turn {first[1]}: {ratio:.2f}x (target <= 1.3x); "
          f"target <= 6.5 ms/turn")
    if every_ms:
        p90 = statistics.quantiles(every_ms, n=10)[-1] if len(every_ms) > 1 else every_ms[0]
        print(f"turns 11-{args.turns}: median {statistics.median(every_ms):.2f} ms, "
              f"p90 {p90:.2f} ms")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
