"""Read calls before and after the owner predicate (issue 15): two builds, interleaved.

    .venv/bin/python bench/bench_owner_reads.py BEFORE_DIR AFTER_DIR [--db duckdb|sqlite]
        [--runs 3000] [--calls 1000]

BEFORE_DIR and AFTER_DIR are plain exports of two commits (``git archive C | tar -x -C
DIR``). Each build runs in its own worker process (``PYTHONPATH=DIR``, cwd ``DIR``) that
fills its own store through its own public API with the same rows: ``--runs`` runs of 2
messages each (a user message and a reply), one tenth in ana's session ``ana_s``, the
rest in 27 sessions of 9 other users; one message in 20 holds the word "harbour". Then
the driver asks the two workers in turn (ABBA: before, after, after, before; ``--calls``
calls of each read per build, in blocks of 50) to time, one call at a time:

- ``message_rows("ana_s")`` (every message of the session, as the panel and the history
  read it),
- ``recent_runs("ana_s", 3)`` with the recent-runs cache cleared before each call (the
  query a turn makes when the cache cannot answer),
- ``count_runs("ana_s")`` (a one-row scalar: where a predicate weighs most),
- ``search("harbour")`` for ana.

The old build (no ``Store.as_user``) reads with the store as it is and passes
``user_id="ana"`` to ``search``, as its callers did; the new build reads with
``store.as_user("ana")``. Both must return the same number of rows (checked). Printed:
per read and build, the median and p90 of the single calls in microseconds, and the
median of the per-round differences (after minus before).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

READS = ["message_rows", "recent_runs", "count_runs", "search"]
BLOCK = 50  # calls of each read per block; a round is one ABBA group of blocks
WORD = "harbour"


# --- the worker: one build, its own store ----------------------------------------------
def _fill(store: Any, runs: int, new_api: bool) -> None:
    from jupyter_agentmem.types import Message, Run

    rng = random.Random(15)
    owners = [("ana_s", "ana")] + [(f"s{i}", f"u{i % 9}") for i in range(27)]
    for i in range(runs):
        session, user = owners[0] if i % 10 == 0 else owners[1 + i % 27]
        words = [f"w{rng.randrange(2000)}" for _ in range(12)]
        if i % 20 == 0:
            words[rng.randrange(12)] = WORD
        run = Run(session_id=session, messages=[
            Message(role="user", content=" ".join(words)),
            Message(role="assistant", content="A short reply of a few words.")])
        if new_api:
            store.as_user(user).append_run(run)
        else:
            store.append_run(run, user_id=user)


def _worker(db: str, runs: int) -> None:
    import jupyter_agentmem
    from jupyter_agentmem.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        location = {"duckdb": os.path.join(tmp, "reads.duckdb"),
                    "sqlite": "sqlite://" + os.path.join(tmp, "reads.sqlite")}[db]
        store = open_store(location)
        new_api = hasattr(store, "as_user")
        _fill(store, runs, new_api)
        ana = store.as_user("ana") if new_api else store
        cache = store.engine.recent_runs

        def recent() -> list:
            cache.clear()
            return ana.recent_runs("ana_s", 3)

        calls = {
            "message_rows": lambda: ana.message_rows("ana_s"),
            "recent_runs": recent,
            "count_runs": lambda: ana.count_runs("ana_s"),
            "search": (lambda: ana.search(WORD)) if new_api
            else (lambda: ana.search(WORD, user_id="ana")),
        }
        sizes = {}
        for name, call in calls.items():
            out = call()
            sizes[name] = out if isinstance(out, int) else len(out)
            for _ in range(BLOCK):  # warm-up
                call()
        print(json.dumps({"module": jupyter_agentmem.__file__, "as_user": new_api,
                          "sizes": sizes}), flush=True)
        for line in sys.stdin:
            times: dict[str, list[float]] = {name: [] for name in READS}
            for _ in range(int(line)):
                for name in READS:
                    t0 = time.perf_counter_ns()
                    calls[name]()
                    times[name].append((time.perf_counter_ns() - t0) / 1000)
            print(json.dumps(times), flush=True)
        store.close()


# --- the driver ------------------------------------------------------------------------
def _start(build: str, db: str, runs: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--worker", "--db", db,
         "--runs", str(runs)],
        cwd=build, env={**os.environ, "PYTHONPATH": build}, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return proc, json.loads(proc.stdout.readline())


def _ask(proc: subprocess.Popen, n: int) -> dict[str, list[float]]:
    proc.stdin.write(f"{n}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", nargs="?")
    parser.add_argument("after", nargs="?")
    parser.add_argument("--db", default="duckdb", choices=["duckdb", "sqlite"])
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.db, args.runs)
        return
    if not (args.before and args.after):
        parser.error("give the BEFORE_DIR and AFTER_DIR exports")

    builds = {"before": os.path.abspath(args.before), "after": os.path.abspath(args.after)}
    procs, info = {}, {}
    t0 = time.perf_counter()
    for name, path in builds.items():  # one at a time: the fills do not compete
        procs[name], info[name] = _start(path, args.db, args.runs)
        print(f"{name}: {info[name]['module']} (as_user: {info[name]['as_user']}), "
              f"rows returned {info[name]['sizes']}")
    if info["before"]["sizes"] != info["after"]["sizes"]:
        raise SystemExit("the two builds read different rows: not comparable")
    print(f"filled in {time.perf_counter() - t0:.0f} s; load {os.getloadavg()[0]:.2f}")

    times = {b: {r: [] for r in READS} for b in builds}
    diffs: dict[str, list[float]] = {r: [] for r in READS}
    rounds = max(1, args.calls // (2 * BLOCK))
    for _ in range(rounds):
        got: dict[str, dict[str, list[float]]] = {b: {r: [] for r in READS} for b in builds}
        for build in ("before", "after", "after", "before"):
            for read, ms in _ask(procs[build], BLOCK).items():
                got[build][read] += ms
        for read in READS:
            for build in builds:
                times[build][read] += got[build][read]
            diffs[read].append(statistics.median(got["after"][read])
                               - statistics.median(got["before"][read]))
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, db {args.db}, "
          f"{args.runs} runs, {rounds} ABBA rounds, {rounds * 2 * BLOCK} calls per read "
          f"per build; load {os.getloadavg()[0]:.2f}")
    print(f"{'read':<14} {'before med/p90 us':>19} {'after med/p90 us':>18} "
          f"{'after-before':>13} {'per-round diffs (min..max)':>28}")
    for read in READS:
        b, a = times["before"][read], times["after"][read]
        qb, qa = statistics.quantiles(b, n=10)[-1], statistics.quantiles(a, n=10)[-1]
        d = diffs[read]
        print(f"{read:<14} {statistics.median(b):>9.0f} / {qb:>7.0f} "
              f"{statistics.median(a):>8.0f} / {qa:>7.0f} {statistics.median(d):>+10.0f} us "
              f"{min(d):>+12.0f} .. {max(d):>+6.0f} us")


if __name__ == "__main__":
    main()
