"""What a purge costs: one session, one message and a whole user, on DuckDB and SQLite.

    .venv/bin/python bench/bench_purge.py [--users 20] [--sessions 10] [--runs 50]

A store of ``users x sessions x runs`` runs (2 messages each, a stored request with the
last 6 messages as history, one memory with provenance per run, a summary version every
10 runs) is built through the store API; then it times ``purge`` of one message, one
session and one user (each: the transaction, then the file scrub: a rewrite on DuckDB,
VACUUM on SQLite) and prints the file size. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from jupyter_agentmem.store import open_store
from jupyter_agentmem.types import Memory, Message, Run, RunContext, SessionSummary


def build(location: str, users: int, sessions: int, runs: int) -> None:
    store = open_store(location)
    for u in range(users):
        user = f"user{u}"
        for s in range(sessions):
            session = f"{user}-s{s}"
            history: list[dict] = []
            with store.batch():
                for r in range(runs):
                    text = f"{user} says thing {r} in {session}: " + "words " * 20
                    run = Run(session_id=session, messages=[
                        Message(role="user", content=text),
                        Message(role="assistant", content="reply " * 30)],
                        context=RunContext(messages=[
                            {"role": "system", "content": "You help."}, *history[-6:],
                            {"role": "user", "content": text}], tokens={}))
                    store.as_user(user).append_run(run)
                    history += [m.to_openai() for m in run.messages]
                    store.as_user(user).add_memory(Memory(user_id=user,
                                                          memory=f"{user} fact {s}-{r}",
                                            session_id=session, input=text), runs=[run])
                    if r % 10 == 9:
                        store.add_summary(SessionSummary(session_id=session,
                                                         summary=f"summary {r} " * 20,
                                                         through_run_seq=r), runs=[run])
    store.close()


def timed(label: str, store, **scope: str) -> None:
    started = time.perf_counter()
    counts = store.purge(**scope)
    print(f"  {label:<10} {time.perf_counter() - started:7.2f} s  {counts}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for backend in ("duckdb", "sqlite"):
            path = os.path.join(folder, "bench." + backend)
            location = path if backend == "duckdb" else "sqlite://" + path
            started = time.perf_counter()
            build(location, args.users, args.sessions, args.runs)
            total = args.users * args.sessions * args.runs
            print(f"{backend}: {total} runs, {2 * total} messages, built in "
                  f"{time.perf_counter() - started:.0f} s, "
                  f"{os.path.getsize(path) / 1e6:.1f} MB")
            store = open_store(location)
            message = store.message_rows("user0-s0")[0]["message_id"]
            timed("message", store, user_id="user0", message_id=message)
            timed("session", store, user_id="user0", session_id="user0-s1")
            timed("user", store, user_id="user1")
            started = time.perf_counter()
            store.engine.scrub()  # the file step alone (nothing left to delete)
            print(f"  {'scrub only':<10} {time.perf_counter() - started:7.2f} s")
            store.close()
            print(f"  file after: {os.path.getsize(path) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
