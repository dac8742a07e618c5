"""What keeping a turn's user message while the model is called costs per turn.

    .venv/bin/python bench/bench_inflight.py [--turns 900] [--db duckdb|sqlite|URL]

One process, one session, the same agent as bench_turns.py (history of 3, an instant
local server). Turn by turn it alternates two ways, so both see the same load on a
shared machine (separate runs of bench_turns.py vary more than the difference
measured here):

- ``none``: nothing is kept before the run is stored (main before issue 11 point 3);
- ``file``: the turn goes to the file of turns in flight first (``store/journal.py``).

Prints the median and p90 ms of ``Agent.run`` per way, and ``file`` against ``none``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from bench_turns import bench_agent  # the same agent (this folder is on sys.path)

from jupyter_agentmem.model.server import ChatServer, Reply

WAYS = ("none", "file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=900)
    parser.add_argument("--db", default="duckdb",
                        help="duckdb or sqlite (a temporary file), or a postgresql:// URL")
    args = parser.parse_args()


    times: dict[str, list[float]] = {way: [] for way in WAYS}
    with tempfile.TemporaryDirectory() as tmp, ChatServer(
            lambda body: Reply(content="An instant answer of a few words.")) as server:
        agent = bench_agent(tmp, args.db, server.base_url)
        engine = agent.store.engine
        journal = engine.journal
        agent.run("warm-up")
        for turn in range(args.turns):
            way = WAYS[turn % len(WAYS)]
            engine.journal = journal if way == "file" else None  # None: stage_run skips
            t0 = time.perf_counter()
            agent.run(f"Turn {turn}: tell me something short.")
            times[way].append((time.perf_counter() - t0) * 1000)
        stored = agent.store.count_runs("bench")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {stored} runs stored, "
          f"db {args.db.split('@')[-1]}, {args.turns} turns, ways interleaved")
    base = statistics.median(times["none"])
    for way in WAYS:
        median = statistics.median(times[way])
        p90 = statistics.quantiles(times[way], n=10)[-1]
        print(f"{way:>5}: median {median:6.2f} ms, p90 {p90:6.2f} ms, "
              f"{median - base:+6.2f} ms ({median / base:.2f}x) against none")


if __name__ == "__main__":
    main()
