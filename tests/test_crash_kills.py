"""SIGKILLs at random points of a turn (while the reply streams, while the run is being
committed, during the memory work, anywhere): after each, the database opens, every
committed run is whole, and the user's message of the turn that was cut short is there,
its run ``interrupted`` (once the message was written: the child says when), and the
reply the user saw is stored: a turn said done is stored whole, and the part of a reply
shown before the kill is the stored run's assistant message (the child prints what it
showed).

30 kills on a DuckDB file; a few on SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from crash_replies import REPLY, crash_responder

from jupyter_agentmem import runtime
from jupyter_agentmem.model.server import ChatServer
from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.journal import writer_id

PROC = str(Path(__file__).with_name("crash_turn_proc.py"))
# Where a kill lands: (the line the child prints, the most seconds to wait after it).
PHASES = {
    "stream": ("mid", 0.03),  # the reply is arriving; the message was staged
    "commit": ("streamed", 0.004),  # the run and the reply are being stored
    "memory": ("ok", 0.04),  # the memory and summary work of the turn runs
    "anywhere": ("ready", 0.6),  # from the start: any moment of a few turns
}


class Child:
    """One turn-taking process; what it printed, read by a thread."""

    def __init__(self, db: str, base_url: str, prefix: str) -> None:
        self.proc = subprocess.Popen([sys.executable, PROC, db, base_url, prefix],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[tuple[str, str]] = []  # (word, message)
        self.changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            word, _, message = line.strip().partition(" ")
            with self.changed:
                self.lines.append((word, message))
                self.changed.notify_all()
        with self.changed:
            self.lines.append(("eof", ""))
            self.changed.notify_all()

    def wait_for(self, word: str, count: int, timeout: float = 60) -> None:
        """Until the child has printed ``word`` ``count`` times."""
        def seen() -> bool:
            return (sum(w == word for w, _ in self.lines) >= count
                    or any(w == "eof" for w, _ in self.lines))

        with self.changed:
            assert self.changed.wait_for(seen, timeout), (word, self.lines[-5:])
        assert not any(w == "eof" for w, _ in self.lines), self.stderr()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self._reader.join(30)
        assert self.proc.returncode == -signal.SIGKILL, self.stderr()

    def stderr(self) -> str:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def check_store(db: str) -> tuple[dict[str, str], dict[str, str]]:
    """Open the database as a new process would; check it; each user message's status
    and stored reply."""
    runtime.reset()  # no engine of ours kept open: this opens it afresh
    store = open_store(db).as_user("ana")  # the child writes as ana
    try:
        runs = store.session_runs("s")
        assert [r.seq for r in runs] == list(range(len(runs))), "a gap or a duplicate seq"
        status_of: dict[str, str] = {}
        replies: dict[str, str] = {}
        for run in runs:
            roles = [m.role for m in run.messages]
            assert roles and roles[0] == "user", run
            text = run.messages[0].content
            assert text not in status_of, f"{text!r} stored twice"
            status_of[text] = run.status
            if run.status == "ok":
                assert roles == ["user", "assistant"], run
                assert run.messages[1].content == REPLY, run
            else:  # with the part of the reply it had shown, if any
                assert run.status == "interrupted" and roles in (
                    ["user"], ["user", "assistant"]), run
            replies[text] = run.messages[1].content if len(roles) > 1 else ""
        orphans = store._scalar(
            "SELECT count(*) FROM messages WHERE run_id NOT IN (SELECT run_id FROM runs)", [])
        assert orphans == 0, "a message without its run"
        assert store.count_messages("s") == sum(len(r.messages) for r in runs)
        # The killed process's file of turns in flight was read and deleted.
        assert store.engine.journal.others(writer_id()) == ([], [])
        added = {e["target_id"] for e in store.as_user("ana").events() if e["action"] == "add"}
        assert {m.memory_id for m in store.as_user("ana").user_memories()} <= added
        for summary in store.list_summaries("s"):
            assert summary.through_run_seq < len(runs)
        return status_of, replies
    finally:
        store.close()
        runtime.reset()


def kill_at_random_points(db: str, kills: int, seed: int) -> Counter:
    """``kills`` children, each killed in a phase of a turn; checked after each kill."""
    rng = random.Random(seed)
    phases = list(PHASES)
    outcome: Counter = Counter()
    with ChatServer(crash_responder) as server:
        for kill in range(kills):
            phase = phases[kill % len(phases)]
            word, most = PHASES[phase]
            child = Child(db, server.base_url, str(kill))
            try:
                child.wait_for("ready", 1)
                # Let 0-2 turns finish first (a longer history), then the chosen moment.
                child.wait_for(word, 1 if word == "ready" else rng.randint(1, 3))
                time.sleep(rng.uniform(0, most))
                child.kill()
            finally:
                child.close()
            said: dict[str, set[str]] = {}
            saw: dict[str, int] = {}  # characters of the reply shown, per message
            for w, message in child.lines:
                if w == "saw":
                    message, _, n = message.rpartition("@")
                    saw[message] = max(saw.get(message, 0), int(n))
                elif w == "shown":
                    saw[message] = len(REPLY)
                said.setdefault(message, set()).add(w)
            status_of, replies = check_store(db)
            for message, shown in saw.items():  # the reply the user saw is stored
                if shown:
                    stored = replies.get(message)
                    assert stored is not None and stored.startswith(REPLY[:shown]), (
                        phase, message, shown, stored)
                    assert REPLY.startswith(stored), (phase, message, stored)
                    outcome["reply seen", "stored"] += 1
            for message, words in said.items():
                if not message:
                    continue
                if "ok" in words:  # committed: whole, and ok
                    assert status_of.get(message) == "ok", (phase, message, words)
                elif "staged" in words:  # its message written: kept (interrupted) or whole
                    assert status_of.get(message) in ("ok", "interrupted"), (phase, message)
                    outcome[phase, status_of[message]] += 1
                else:  # killed before the message was written: nothing of it stored
                    assert message not in status_of, (phase, message, words)
                    outcome[phase, "before the message was stored"] += 1
    return outcome


def test_thirty_sigkills_at_random_points_of_a_turn_on_duckdb(tmp_path):
    outcome = kill_at_random_points(str(tmp_path / "crash.duckdb"), 30, seed=11)
    # The kills landed where they were aimed: a message kept as interrupted in most
    # kills while the reply streamed.
    assert outcome["stream", "interrupted"] >= 6, outcome
    assert sum(n for (_, status), n in outcome.items() if status == "interrupted") >= 8
    assert outcome["reply seen", "stored"] >= 30, outcome


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_sigkills_at_random_points_of_a_turn_on_sqlite_and_postgres(backend, tmp_path,
                                                                     request):
    db = ("sqlite://" + str(tmp_path / "crash.sqlite") if backend == "sqlite"
          else request.getfixturevalue("pg_url"))
    outcome = kill_at_random_points(db, 6, seed=12)
    assert outcome["stream", "interrupted"] >= 1, outcome
