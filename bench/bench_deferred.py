"""What keeping a finished turn durable against a kill costs in the turn, two ways (issue 17).

    .venv/bin/python bench/bench_deferred.py [--turns 300]

(a) the whole turn as one row of an append-only DuckDB table (``BEGIN; INSERT; COMMIT``,
    DuckDB's own fsync), to be applied to the tables later;
(b) the whole turn as one line appended to the file of turns in flight (``os.write``, no
    fsync: what ``store/sql/deferred.py`` does before the engine's thread commits it);
and, for scale, (c) today's ``append_run`` transaction (runs, messages, search index,
request parts, run context; one COMMIT). The same run (a turn of bench_turns.py's shape,
its request with 3 runs of history) each time; the three interleaved turn by turn in one
process, so they see the same machine load. Prints the median and p90 in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import duckdb

from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.sql.staged import run_entry
from jupyter_agentmem.types import Message, Run, RunContext


def a_turn(i: int) -> Run:
    history = [{"role": r, "content": f"Turn {k}: tell me something short." if r == "user"
                else "An instant answer of a few words."}
               for k in range(i - 3, i) for r in ("user", "assistant")]
    request = ([{"role": "system", "content": "You are a benchmark."}] + history
               + [{"role": "user", "content": f"Turn {i}: tell me something short."}])
    return Run(session_id="bench", model="bench", input_tokens=60, output_tokens=8,
               latency_ms=2.0,
               messages=[Message(role="user", content=f"Turn {i}: tell me something short."),
                         Message(role="assistant", content="An instant answer of a few words.")],
               context=RunContext(messages=request, tokens={"system": 5, "history": 40,
                                                             "message": 8}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    ms: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    with tempfile.TemporaryDirectory() as tmp:
        log = duckdb.connect(os.path.join(tmp, "log.duckdb"))
        log.execute("CREATE TABLE turn_log (run_id VARCHAR, turn VARCHAR)")
        fd = os.open(os.path.join(tmp, "inflight.jsonl"),
                     os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        store = open_store(os.path.join(tmp, "store.duckdb"))
        for i in range(args.turns):
            run = a_turn(i)
            t0 = time.perf_counter()
            line = json.dumps(run_entry(run, "u"), ensure_ascii=False, default=str)
            log.execute("BEGIN TRANSACTION")
            log.execute("INSERT INTO turn_log VALUES (?, ?)", [run.run_id, line])
            log.execute("COMMIT")
            ms["a"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            line = json.dumps(run_entry(run, "u"), ensure_ascii=False, default=str)
            os.write(fd, (line + "\n").encode())
            ms["b"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            # Not staged: append_run commits it before it returns (sql/deferred.py).
            store.as_user("u").append_run(run.model_copy(update={"run_id": run.run_id + "c"}))
            ms["c"].append((time.perf_counter() - t0) * 1000)
        os.close(fd)
        log.close()
        store.close()
    names = {"a": "(a) one row of an append-only table, committed",
             "b": "(b) one line in the file of turns in flight",
             "c": "(c) today's append_run transaction"}
    print(f"{args.turns} turns, load average {os.getloadavg()[0]:.2f}")
    for key, name in names.items():
        values = sorted(ms[key][10:])  # the first turns warm up
        print(f"{name:<50} median {statistics.median(values):6.3f} ms, "
              f"p90 {values[int(len(values) * 0.9)]:6.3f} ms")


if __name__ == "__main__":
    main()
