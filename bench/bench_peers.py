"""Ours on DuckDB, SQLite and PostgreSQL against agno and a bare ``openai`` client, turns
interleaved in one run.

    .venv/bin/python bench/bench_peers.py [--turns 1000] [--before DIR] [--progress 100]

One command: it makes (once) a scratch venv with the latest agno from PyPI
(``bench/.venv-baselines``: agno, openai, ``sqlalchemy[asyncio]``; never a project
dependency), starts a throwaway PostgreSQL server (as tests/pg_server.py does) and an
instant OpenAI-compatible server (``model/server.py``, in this process), then one worker
process per subject:

- ``agno``: ``Agent(model=OpenAIChat, db=SqliteDb(file), add_history_to_context=True,
  num_history_runs=3)``, agno's defaults otherwise, telemetry off (as bench_baselines.py);
- ``ours-duckdb``, ``ours-sqlite``, ``ours-postgres``: ``Agent(storage=...,
  add_history_to_messages=True, num_history_responses=3)`` (as bench_turns.py);
- with ``--before DIR`` (a checkout of an earlier commit, e.g. ``git archive``), the same
  three again from that code (``before-...``), for a paired before/after in one run.

Turn ``i`` of every subject runs before turn ``i + 1`` of any (the order rotates each
turn), so every subject sees the same machine load. After each of its turns a worker
waits (not timed) for what the turn left running (ours on DuckDB: the commit on the
engine's thread, whose delay after the turn is reported apart), then sends the messages
its agent just sent again through a bare ``openai`` client (the same server; the server
tells the coordinator what each subject sent): framework overhead is
the median of each turn minus the bare call right after it, per window of turns (1-10,
91-100, 991-1000); the ratio is that to agno's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv-baselines")
WINDOWS = [(1, 10), (91, 100), (991, 1000)]
REPLY = "An instant answer of a few words."
SESSION = "bench"
DESCRIPTION = "You are a benchmark."
TAG = "@@ "  # the workers' protocol lines (anything else they print is passed on)


# --- the workers (each in its own process; agno's in the scratch venv) -----------------
def make_agent(kind: str, name: str, base_url: str,
               db: str) -> tuple[Any, Any, Any]:
    """(run(message), count(), settle()) of one subject's agent: ``settle`` waits, not
    timed, for what a turn left running in the background (our deferred commit), so it
    does not slow the bare call that follows nor another subject's turn."""
    if kind == "agno":
        os.environ["AGNO_TELEMETRY"] = "false"
        from agno.agent import Agent
        from agno.db.sqlite import SqliteDb
        from agno.models.openai import OpenAIChat

        agent = Agent(model=OpenAIChat(id=name, base_url=base_url, api_key="bench",
                                       max_retries=0),
                      db=SqliteDb(db_file=db), add_history_to_context=True,
                      num_history_runs=3, description=DESCRIPTION, session_id=SESSION,
                      telemetry=False)

        def agno_count() -> int:
            session = agent.get_session(session_id=SESSION)
            return len(session.runs or []) if session else 0

        return agent.run, agno_count, lambda: None
    from jupyter_agentmem import Agent as Ours
    from jupyter_agentmem import OpenAIChat as OursChat
    from jupyter_agentmem.storage import AgentStorage
    from jupyter_agentmem.store import open_store

    ours = Ours(model=OursChat(id=name, base_url=base_url, api_key="bench", max_retries=0),
                storage=AgentStorage(open_store(db)), add_history_to_messages=True,
                num_history_responses=3, description=DESCRIPTION, session_id=SESSION)
    deferred = getattr(ours.store.engine, "deferred", None)  # None: earlier code

    def settle() -> None:
        while deferred is not None and (deferred.pending or deferred.writing):
            time.sleep(0.0002)

    return ours.run, lambda: ours.store.count_runs(SESSION), settle


class CommitLag:
    """How long after its turn each run queued for a deferred commit was committed (the
    debug line of store/sql/deferred.py; nothing on other backends or earlier code)."""

    def __init__(self) -> None:
        import logging

        self.ms: list[float] = []
        handler = logging.Handler(logging.DEBUG)
        handler.emit = self._emit  # type: ignore[method-assign]
        logger = logging.getLogger("jupyter_agentmem.store.sql.deferred")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)

    def _emit(self, record: Any) -> None:
        if record.msg.startswith("committed"):
            self.ms.append(record.args[1])

    def summary(self) -> str:
        if not self.ms:
            return ""
        ordered = sorted(self.ms)
        return (f"{len(ordered)} commits, median {statistics.median(ordered):.1f} ms, p90 "
                f"{ordered[int(len(ordered) * 0.9)]:.1f} ms, max {ordered[-1]:.1f} ms")


def worker(kind: str, name: str, base_url: str, db: str) -> None:
    import openai

    lag = CommitLag() if kind == "ours" else None
    run, count, settle = make_agent(kind, name, base_url, db)
    client = openai.OpenAI(base_url=base_url, api_key="bench", max_retries=0)
    run("warm-up")  # imports, the HTTP connection, the file and its schema
    client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
    say({"ready": True})
    for line in sys.stdin:
        order = json.loads(line)
        if "turn" in order:
            t0 = time.perf_counter()
            run(order["turn"])
            ms = (time.perf_counter() - t0) * 1000
            settle()
            say({"ms": ms})
        elif "bare" in order:
            t0 = time.perf_counter()
            client.chat.completions.create(model=name, messages=order["bare"])
            say({"ms": (time.perf_counter() - t0) * 1000})
        elif "count" in order:
            say({"count": count(), "lag": lag.summary() if lag else ""})
            return


def say(answer: dict[str, Any]) -> None:
    sys.stdout.write(TAG + json.dumps(answer) + "\n")
    sys.stdout.flush()


# --- the coordinator -------------------------------------------------------------------
def baseline_python() -> str:
    """The scratch venv's python, with the latest agno (made or brought up to date)."""
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", VENV], check=True)
        subprocess.run([python, "-m", "ensurepip", "--upgrade"], check=True,
                       capture_output=True)
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--upgrade", "agno", "openai", "sqlalchemy[asyncio]"],
                         capture_output=True, text=True)
    if pip.returncode:
        sys.exit(f"installing agno into {VENV} failed:\n{pip.stderr}")
    return python


class Worker:
    def __init__(self, name: str, kind: str, python: str, code: str | None, db: str,
                 base_url: str) -> None:
        env = dict(os.environ, AGNO_TELEMETRY="false")
        if code is not None:
            env["PYTHONPATH"] = code
        self.name = name
        self.proc = subprocess.Popen(
            [python, os.path.abspath(__file__), "--worker", kind, "--name", name,
             "--base-url", base_url, "--db", db],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.turn_ms: list[float] = []
        self.bare_ms: dict[tuple[int, int], list[float]] = {}
        self.ask(None)  # ready

    def ask(self, order: dict[str, Any] | None) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if order is not None:
            self.proc.stdin.write(json.dumps(order) + "\n")
            self.proc.stdin.flush()
        for line in self.proc.stdout:
            if line.startswith(TAG):
                return json.loads(line[len(TAG):])
            sys.stderr.write(f"[{self.name}] {line}")
        raise RuntimeError(f"worker {self.name} ended (exit {self.proc.wait()})")


def overhead(w: Worker, a: int, b: int) -> tuple[float, float, float]:
    """Over turns ``a``..``b``: the median turn, the median bare call, and the median of
    each turn minus the bare call right after it (paired: the load of a shared machine
    drifts less between the two than across the window)."""
    turns, bare = w.turn_ms[a - 1:b], w.bare_ms[a, b]
    paired = [t - r for t, r in zip(turns, bare, strict=True)]
    return statistics.median(turns), statistics.median(bare), statistics.median(paired)


def window_of(turn: int, windows: list[tuple[int, int]]) -> tuple[int, int] | None:
    return next((w for w in windows if w[0] <= turn <= w[1]), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--before", help="a checkout of earlier code: its subjects too")
    parser.add_argument("--progress", type=int, default=0, help="say so every N turns")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.name, args.base_url, args.db)
        return

    sys.path.insert(0, ROOT)
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from pg_server import PgServer

    from jupyter_agentmem.model.server import ChatServer, Reply

    sent: dict[str, list[dict[str, Any]]] = {}  # subject -> the messages it sent last

    def responder(body: dict[str, Any]) -> Reply:
        sent[body["model"]] = body["messages"]
        return Reply(content=REPLY)

    agno_python = baseline_python()
    from importlib import metadata

    agno_version = subprocess.run(
        [agno_python, "-c", "from importlib import metadata as m; "
         "print(m.version('agno'), m.version('openai'))"],
        capture_output=True, text=True, check=True).stdout.split()
    windows = [w for w in WINDOWS if w[1] <= args.turns]
    pg = PgServer().start()
    started = time.perf_counter()
    load = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory() as tmp, ChatServer(responder) as server:
            url = server.base_url
            codes = [("ours", ROOT)] + ([("before", args.before)] if args.before else [])
            workers = [Worker("agno", "agno", agno_python, None,
                              os.path.join(tmp, "agno.db"), url)]
            for label, code in codes:
                for backend, db in (
                        ("duckdb", os.path.join(tmp, f"{label}.duckdb")),
                        ("sqlite", "sqlite://" + os.path.join(tmp, f"{label}.sqlite")),
                        ("postgres", pg.new_database())):
                    workers.append(Worker(f"{label}-{backend}", "ours", sys.executable,
                                          code, db, url))
            for turn in range(1, args.turns + 1):
                window = window_of(turn, windows)
                shift = turn % len(workers)
                for w in workers[shift:] + workers[:shift]:
                    ms = w.ask({"turn": f"Turn {turn}: tell me something short."})["ms"]
                    w.turn_ms.append(ms)
                    if window:
                        w.bare_ms.setdefault(window, []).append(
                            w.ask({"bare": sent[w.name]})["ms"])
                if args.progress and turn % args.progress == 0:
                    print(f"turn {turn}: {time.perf_counter() - started:.0f} s",
                          file=sys.stderr, flush=True)
            ends = {w.name: w.ask({"count": True}) for w in workers}
            for w in workers:
                w.proc.wait(60)
    finally:
        pg.stop()

    print(f"agno {agno_version[0]} (openai {agno_version[1]}) vs jupyter_agentmem "
          f"(openai {metadata.version('openai')}, duckdb {metadata.version('duckdb')}), "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {args.turns} turns "
          f"interleaved, history 3, {time.perf_counter() - started:.0f} s; load average "
          f"{load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print("runs stored: " + ", ".join(f"{n} {e['count']}" for n, e in ends.items()))
    for n, e in ends.items():
        if e["lag"]:
            print(f"{n}: deferred commit after the turn: {e['lag']}")
    agno = workers[0]
    header = f"{'subject':<16}{'turns':>10}{'turn ms':>10}{'bare ms':>10}{'overhead':>10}"
    print(header + f"{'vs agno':>9}")
    for a, b in windows:
        base = overhead(agno, a, b)[2]
        for w in workers:
            t, r, o = overhead(w, a, b)
            print(f"{w.name:<16}{a:>4}-{b:<5}{t:>10.2f}{r:>10.2f}{o:>10.2f}"
                  f"{o / base:>8.2f}x")


if __name__ == "__main__":
    main()
