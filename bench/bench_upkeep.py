"""Per-turn search index upkeep on every backend, at 100k messages (issue 16: at most 1 ms).

    .venv/bin/python bench/bench_upkeep.py [--messages 100000] [--turns 200]
                                           [--backends duckdb sqlite postgres]

For each backend, a fresh store gets the export of ``bench/bench_scale.py`` (one user,
``ana``: the messages as runs of a user message and a reply, 5,000 memories, English-
like text) through the public import, and its index is built. Then ``--turns`` turns of
what a turn does to the index: ``append_run`` of a user message and a reply (as the
agent's commit does), then a recall search (``search_ids(..., "exchanges", 3)``) that
must find it (by a word only it has). Per turn, the upkeep is the time spent in

- ``term_index.index_docs`` from the run's commit: the texts' index rows and the user's
  revision (none where runs are numbered: DuckDB),
- ``SearchIndexes._learn``: the committed texts given to the loaded partitions,
- ``SearchIndexes._catch_up`` / ``_catch_up_appends``: what the next search reads back,

with the whole ``append_run`` beside it for scale. PostgreSQL is a throwaway local
server (``tests/pg_server.py``: fsync off, so the COMMIT is not what is timed; the
upkeep is statements inside the transaction); SQLite and DuckDB are files in a
temporary folder. Prints one markdown row per backend: upkeep p50 / p95 / max, and its
split (rows / learn / catch-up) at p50, the append's p50, and the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE, os.path.join(ROOT, "tests")]

from bench_scale import write_export  # noqa: E402
from bench_search_scale import Timed, pct, phrase  # noqa: E402
from scale_store import USER, rare_words  # noqa: E402

from jupyter_agentmem.store import open_store  # noqa: E402
from jupyter_agentmem.store.archive import read_archive  # noqa: E402
from jupyter_agentmem.store.sql import run_rows  # noqa: E402
from jupyter_agentmem.store.sql.search_index import SearchIndexes  # noqa: E402
from jupyter_agentmem.types import Message, Run  # noqa: E402


def measure(location: str, export: str, turns: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    store = open_store(location)
    t0 = time.perf_counter()
    store.as_user(USER).import_rows(read_archive(export))
    store.build_search_index([USER])
    built = time.perf_counter() - t0
    acting = store.as_user(USER)
    rng = random.Random(16)
    words = rare_words(30000)
    rows_t = Timed(run_rows, "index_docs")
    learn_t = Timed(SearchIndexes, "_learn")
    catch_t = [Timed(SearchIndexes, name) for name in ("_catch_up", "_catch_up_appends")
               if hasattr(SearchIndexes, name)]
    acting.search_ids("warm up", "exchanges", 3)
    for t in (rows_t, learn_t, *catch_t):
        t.take()
    split: list[tuple[float, float, float]] = []
    appends: list[float] = []
    for i in range(turns):
        run = Run(session_id=f"upkeep-{i // 50}", messages=[
            Message(role="user", content=f"I was thinking about upkeep{i}marker and "
                    + phrase(rng, words, 12)),
            Message(role="assistant", content="An answer: " + phrase(rng, words, 30))])
        start = time.perf_counter()
        acting.append_run(run)
        appends.append((time.perf_counter() - start) * 1000)
        found = [r for r, _ in acting.search_ids(f"upkeep{i}marker", "exchanges", 3)]
        if run.run_id not in found:
            raise RuntimeError(f"turn {i}: its run was not found by the next search")
        split.append((rows_t.take(), learn_t.take(), sum(t.take() for t in catch_t)))
    for t in (rows_t, learn_t, *catch_t):  # the classes as they were
        setattr(t.owner, t.name, t.real)
    store.close()
    upkeep = [sum(s) for s in split]
    return {"upkeep_p50": statistics.median(upkeep), "upkeep_p95": pct(upkeep, 0.95),
            "upkeep_max": max(upkeep),
            "rows": statistics.median(s[0] for s in split),
            "learn": statistics.median(s[1] for s in split),
            "catch_up": statistics.median(s[2] for s in split),
            "append": statistics.median(appends), "built": built,
            "load": max(load_before, os.getloadavg()[0])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--backends", nargs="+", default=["duckdb", "sqlite", "postgres"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        export = os.path.join(tmp, "scale.jsonl")
        write_export(export, args.messages)
        server = None
        print(f"| backend ({args.messages:,} messages) | upkeep p50 / p95 / max | "
              "p50: rows / learn / catch-up | append_run p50 | import + build | load |")
        print("|---|---|---|---|---|---|")
        try:
            for backend in args.backends:
                if backend == "postgres":
                    from pg_server import PgServer

                    server = server or PgServer().start()
                    location = server.new_database()
                elif backend == "sqlite":
                    location = "sqlite://" + os.path.join(tmp, "upkeep.sqlite")
                else:
                    location = os.path.join(tmp, "upkeep.duckdb")
                m = measure(location, export, args.turns)
                print(f"| {backend} | {m['upkeep_p50']:.2f} / {m['upkeep_p95']:.2f} / "
                      f"{m['upkeep_max']:.2f} ms | {m['rows']:.2f} / {m['learn']:.2f} / "
                      f"{m['catch_up']:.2f} ms | {m['append']:.2f} ms | {m['built']:.1f} s | "
                      f"{m['load']:.1f} |", flush=True)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
