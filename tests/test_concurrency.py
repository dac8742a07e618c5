"""Several processes, one DuckDB file: nothing lost, nothing partial."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from model_server import Reply

from jupyter_agentmem.model.server import ChatServer
from jupyter_agentmem.store import DuckDbStore

PROC = str(Path(__file__).with_name("agent_proc.py"))


def start(spec: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, PROC, json.dumps(spec)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


def close_pipes(proc: subprocess.Popen) -> None:
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def table(db_path: str, sql: str) -> list[tuple]:
    """Read the file in a fresh process with plain duckdb: it must open."""
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1]); "
            "print(json.dumps(con.execute(sys.argv[2]).fetchall())); con.close()")
    out = subprocess.run([sys.executable, "-c", code, db_path, sql], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [tuple(r) for r in json.loads(out.stdout)]


def check_runs_whole(db_path: str, session: str) -> list[tuple]:
    """Every run is whole: one that worked has its user message and its reply, one a kill
    cut short (``interrupted``) its user message only; no message without a run; seq
    0..n-1. Returns (seq, user message, status) per run."""
    store = DuckDbStore(db_path)
    try:
        runs = store.session_runs(session)
        assert [r.seq for r in runs] == list(range(len(runs)))
        for run in runs:
            assert run.status in ("ok", "interrupted"), run
            if run.status == "interrupted":
                (user,) = run.messages
                assert user.role == "user" and run.error
                continue
            (user, reply) = run.messages
            assert (user.role, reply.role) == ("user", "assistant")
            assert reply.content == "echo: " + user.content
        assert store.count_messages(session) == sum(len(r.messages) for r in runs)
        orphans = store._scalar(
            "SELECT count(*) FROM messages WHERE run_id NOT IN (SELECT run_id FROM runs)", [])
        assert orphans == 0
        return [(r.seq, r.messages[0].content, r.status) for r in runs]
    finally:
        store.close()


def test_four_processes_hundred_turns_each(server, db_path):
    procs = [start({"db": db_path, "base_url": server.base_url, "session": "shared",
                    "history": 3, "messages": [f"p{p}-t{t}" for t in range(100)]})
             for p in range(4)]
    for p, proc in enumerate(procs):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.splitlines() == [f"done {t} 'echo: p{p}-t{t}'" for t in range(100)]

    counts = table(db_path, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM "
                            "messages), (SELECT count(DISTINCT seq) FROM runs), "
                            "(SELECT max(seq) FROM runs)")
    assert counts == [(400, 800, 400, 399)]
    stored = check_runs_whole(db_path, "shared")
    assert {status for *_, status in stored} == {"ok"}
    assert sorted(c for _, c, _ in stored) == sorted(f"p{p}-t{t}" for p in range(4)
                                                  for t in range(100))
    # Each process's own turns are stored in the order it made them.
    for p in range(4):
        mine = [c for _, c, _ in stored if c.startswith(f"p{p}-")]
        assert mine == [f"p{p}-t{t}" for t in range(100)]
    # Every request carried at most 3 earlier runs, all from this session.
    for body in server.of("chat"):
        assert len(body["messages"]) <= 7


class Gate:
    """A responder that holds back the answer to one message until released."""

    def __init__(self, hold: str) -> None:
        self.hold = hold
        self.arrived = threading.Event()
        self.release = threading.Event()

    def __call__(self, body: dict) -> Reply:
        last = body["messages"][-1]["content"]
        if last == self.hold:
            self.arrived.set()
            self.release.wait(30)
        return Reply(content="echo: " + last)


def test_sigkill_while_waiting_for_the_model(db_path):
    gate = Gate(hold="t5")
    with ChatServer(gate) as srv:
        proc = start({"db": db_path, "base_url": srv.base_url, "session": "k",
                      "messages": [f"t{i}" for i in range(10)]})
        try:
            assert gate.arrived.wait(60), proc.stderr.read()
            # Killed the moment its request arrives: its message was kept before it left.
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(30)
        finally:
            gate.release.set()
        done = proc.stdout.read().splitlines()
        close_pipes(proc)
    assert proc.returncode == -signal.SIGKILL
    assert done == [f"done {i} 'echo: t{i}'" for i in range(5)]
    # The message of the turn that was waiting for the model is kept, its run interrupted.
    assert check_runs_whole(db_path, "k") == (
        [(i, f"t{i}", "ok") for i in range(5)] + [(5, "t5", "interrupted")])


def test_sigkill_at_random_moments(server, db_path):
    rng = random.Random(20240602)
    stored: list[tuple] = []
    for round_ in range(6):
        messages = [f"r{round_}-t{i}" for i in range(200)]
        proc = start({"db": db_path, "base_url": server.base_url, "session": "rk",
                      "messages": messages})
        target = rng.randint(2, 25)
        seen = []
        while len(seen) < target:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            seen.append(line)
        time.sleep(rng.uniform(0, 0.01))  # land anywhere in the next turn
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        seen += proc.stdout.read().splitlines(keepends=True)
        close_pipes(proc)
        before = stored
        stored = check_runs_whole(db_path, "rk")
        # Every run stored before is still there, as it was; every completed turn is
        # stored whole, in order; the turn in flight is stored whole, kept as
        # interrupted (its message), or absent (killed before its message was written).
        assert stored[:len(before)] == before
        new = [(c, status) for _, c, status in stored[len(before):]]
        done = [(m, "ok") for m in messages[:len(seen)]]
        assert new[:len(done)] == done
        assert new[len(done):] in ([], [(messages[len(seen)], "ok")],
                                   [(messages[len(seen)], "interrupted")])
    assert table(db_path, "SELECT count(*) FROM runs")[0][0] == len(stored)
