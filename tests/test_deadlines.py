"""Deadlines (issue 15, point 8): every wait on something outside ends, says why, keeps
what it had.

- the DuckDB file lock: the whole wait of one call, a thread of this process waiting
  for the same file included, is at most ``lock_timeout_s`` (README: 60 s);
- a model stream that trickles forever ends at ``timeout`` with what arrived kept;
- a ``{name}`` whose rendering hangs is cut off after ``context_timeout``.

Each test asserts that the call ended within a bound that is generous for a loaded
machine (several times the configured wait) but far below what the defect took.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from jupyter_agentmem.store import DuckDbStore, LockTimeout
from jupyter_agentmem.store.duckdb import shared_duckdb


def stopped_holder(db_path: str, code: str) -> subprocess.Popen:
    """A process that takes the database's file lock as ``code`` does, then stops
    itself (SIGSTOP): it will never hand the file over."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), db_path],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    for _ in range(500):  # until it is stopped ("T" in /proc/<pid>/stat)
        with open(f"/proc/{holder.pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                break
        time.sleep(0.01)
    else:
        raise AssertionError("the holder did not stop")
    return holder


HOLDS_THE_FILE = """
    import os, signal, sys
    from jupyter_agentmem.store import DuckDbStore
    store = DuckDbStore(sys.argv[1])
    store.list_sessions()  # opens the file: migrations done, the lock held
    with store.engine.connection():
        print("held", flush=True)
        os.kill(os.getpid(), signal.SIGSTOP)
"""

# Stopped in the instant a holder probes ``.want`` for waiters (LOCK_EX|LOCK_NB, then
# LOCK_UN): a waiter's shared lock on ``.want`` blocked forever.
STOPPED_WHILE_PROBING = """
    import fcntl, os, signal, sys
    from jupyter_agentmem.store.duckdb.file_lock import HandoverLock
    lock = HandoverLock(sys.argv[1]); lock.acquire(5)
    probe = os.open(sys.argv[1] + ".want", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("held", flush=True)
    os.kill(os.getpid(), signal.SIGSTOP)
"""


def end(holder: subprocess.Popen) -> None:
    holder.kill()  # SIGKILL ends a stopped process too
    holder.wait()
    holder.stdout.close()


def test_the_lock_wait_of_a_call_includes_another_threads_wait(db_path):
    # Measured before: 124 s with a stopped holder and the default 60 s. The kernel
    # thread first waited, unbounded, for the engine's mutex while the memory worker
    # waited its 60 s for the file, then waited 60 s of its own.
    DuckDbStore(db_path).list_sessions()
    store = DuckDbStore(db_path)
    engine = shared_duckdb(db_path)
    engine.close()
    holder = stopped_holder(db_path, HOLDS_THE_FILE)
    worker_error: list[BaseException] = []

    def worker() -> None:  # the memory worker, say, started while the file was held
        try:
            store.list_sessions()
        except BaseException as exc:  # noqa: BLE001 (asserted below)
            worker_error.append(exc)

    try:
        engine.lock_timeout_s = 30
        thread = threading.Thread(target=worker, daemon=True)
        thread.start()
        time.sleep(0.5)  # it is waiting for the file now, holding the engine
        engine.lock_timeout_s = 1.0
        started = time.monotonic()
        with pytest.raises(LockTimeout) as info:
            store.list_sessions()
        waited = time.monotonic() - started
    finally:
        end(holder)
        engine.lock_timeout_s = 60
    thread.join(30)
    assert waited < 10, f"waited {waited:.1f} s with lock_timeout_s=1"  # before: 31 s
    message = str(info.value)
    assert f"held by process {holder.pid}" in message
    assert "was not released within 1 s" in message
    assert "Close the other kernel" in message  # what to do
    assert not thread.is_alive() and not worker_error  # the holder gone, the worker got it


def test_a_holder_stopped_while_probing_for_waiters_is_a_timeout_not_a_hang(db_path):
    holder = stopped_holder(db_path, STOPPED_WHILE_PROBING)
    engine = shared_duckdb(db_path, lock_timeout_s=1.0)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            DuckDbStore(db_path).list_sessions()
        except BaseException as exc:  # noqa: BLE001 (asserted below)
            errors.append(exc)

    try:
        thread = threading.Thread(target=wait, daemon=True)
        thread.start()
        thread.join(15)  # before: blocked for ever in flock(.want, LOCK_SH)
        hung = thread.is_alive()
    finally:
        end(holder)
        engine.lock_timeout_s = 60
    assert not hung, "the wait for the lock did not end"
    assert len(errors) == 1 and isinstance(errors[0], LockTimeout)
    assert f"held by process {holder.pid}" in str(errors[0])
    assert os.path.exists(db_path + ".lock")
    # The holder is gone: the file opens again.
    assert DuckDbStore(db_path).list_sessions() == []


def test_the_magic_says_the_lock_timeout_and_what_to_do(shell, server, db_path):
    from IPython.core.error import UsageError

    DuckDbStore(db_path).list_sessions()
    shared_duckdb(db_path).close()
    holder = stopped_holder(db_path, HOLDS_THE_FILE)
    engine = shared_duckdb(db_path)  # the engine the magic uses
    engine.lock_timeout_s = 1.0
    try:
        started = time.monotonic()
        with pytest.raises(UsageError, match=f"held by process {holder.pid}.*Close the other"):
            shell.run_cell_magic("agent", "session=s", "hello")
        waited = time.monotonic() - started
    finally:
        end(holder)
        engine.lock_timeout_s = 60
    assert waited < 10
    assert server.of("chat") == []



# --- the model call: one deadline for the whole call --------------------------------
def in_thread(fn, bound: float):
    """``fn()`` in a thread; its result, or AssertionError when it is still running after
    ``bound`` seconds (before the fix these calls never ended)."""
    out: dict = {}

    def call() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 (handed to the test)
            out["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(bound)
    assert not thread.is_alive(), f"still running after {bound} s"
    if "error" in out:
        raise out["error"]
    return out["value"], time.monotonic() - started


def timed_model(server, timeout: float, retries: int = 0):
    from jupyter_agentmem import OpenAIChat

    return OpenAIChat(id="m", base_url=server.base_url, api_key="sk-test-secret",
                      max_retries=retries, timeout=timeout)


def test_a_stream_that_trickles_for_ever_ends_at_the_timeout_and_keeps_the_start(server,
                                                                                  db_path):
    from model_server import Reply

    from jupyter_agentmem import Agent
    from jupyter_agentmem.storage import DuckDbAgentStorage

    agent = Agent(model=timed_model(server, 2), storage=DuckDbAgentStorage(db_file=db_path),
                  session_id="s")
    server.script(Reply(content="The first part of the answer.", trickle=" more",
                        chunk_delay=0.5))
    deltas: list[str] = []
    # Before: still streaming after 40 s (the client's timeout is per read).
    response, took = in_thread(lambda: agent.respond("go on", on_delta=deltas.append), 30)
    assert took < 15
    assert response.status == "error"
    assert "did not finish within 2 s" in response.error
    assert "AgentMagics.timeout" in response.error and "OpenAIChat(timeout=" in response.error
    (run,) = DuckDbStore(db_path).session_runs("s")
    assert run.status == "error" and run.error == response.error
    partial = run.messages[1].content
    assert [m.role for m in run.messages] == ["user", "assistant"]
    assert partial == "".join(deltas) and partial.startswith("The first part of the answer.")
    assert " more" in partial  # trickled chunks arrived before the deadline, and are kept


def test_the_magic_says_the_model_did_not_finish_and_keeps_the_partial_reply(shell, server,
                                                                             db_path):
    from IPython.utils.capture import capture_output
    from model_server import Reply

    shell.run_line_magic("config", "AgentMagics.timeout = 2.0")
    server.script(Reply(content="Partial but useful.", trickle=" and", chunk_delay=0.5))
    with capture_output() as out:
        _, took = in_thread(lambda: shell.run_cell_magic("agent", "session=t", "hi"), 30)
    assert took < 15
    shown = "\n".join(o.data.get("text/plain", "") for o in out.outputs)
    assert "Partial but useful." in shown
    assert "did not finish within 2 s" in shown and "%config AgentMagics.timeout" in shown
    (run,) = DuckDbStore(db_path).session_runs("t")
    assert run.status == "error" and run.messages[1].content.startswith("Partial but useful.")


def test_run_stream_true_ends_at_the_timeout_with_a_model_error(server, db_path):
    from model_server import Reply

    from jupyter_agentmem import Agent, ModelError
    from jupyter_agentmem.storage import DuckDbAgentStorage

    agent = Agent(model=timed_model(server, 2), storage=DuckDbAgentStorage(db_file=db_path),
                  session_id="s")
    server.script(Reply(content="Streamed start.", trickle=" x", chunk_delay=0.5))
    chunks: list[str] = []

    def read_all() -> None:
        for chunk in agent.run("go", stream=True):
            chunks.append(chunk.content)

    with pytest.raises(ModelError, match="did not finish within 2 s"):
        in_thread(read_all, 30)
    (run,) = DuckDbStore(db_path).session_runs("s")
    assert run.status == "error" and run.messages[1].content == "".join(chunks)


def test_a_reader_slower_than_the_trickle_still_ends_at_the_timeout(server):
    from model_server import Reply

    from jupyter_agentmem import ModelError

    model = timed_model(server, 2)
    server.script(Reply(content="start", trickle=" t", chunk_delay=0.05))
    got: list[str] = []

    def read_slowly() -> str:
        stream = model.response_stream([{"role": "user", "content": "x"}])
        try:
            for delta in stream:
                got.append(delta)
                time.sleep(0.2)  # slower than the server sends
        except ModelError as exc:
            return str(exc)
        return "ended without an error"

    # Before: the queue of chunks never emptied, so the deadline never came.
    error, took = in_thread(read_slowly, 30)
    assert "did not finish within 2 s" in error
    assert took < 15 and "".join(got).startswith("start")


@pytest.mark.parametrize("stream", [False, True])
def test_a_whole_call_is_bounded_too_retries_included(server, stream):
    from model_server import Reply

    from jupyter_agentmem import ModelError

    model = timed_model(server, 2, retries=3)
    # A server that never answers (each retry waited the client's full timeout again:
    # 4 x 2 s plus back-off), and one whose whole answer never ends (no read waits
    # 2 s: it never ended at all).
    server.script(Reply(content="late", delay=60), Reply(content="late", delay=60),
                  Reply(content="late", delay=60), Reply(content="late", delay=60))

    def call():
        if stream:
            return "".join(model.response_stream([{"role": "user", "content": "x"}]))
        return model.response([{"role": "user", "content": "x"}])

    started = time.monotonic()
    with pytest.raises(ModelError, match="did not answer within 2 s") as info:
        in_thread(call, 30)
    took = time.monotonic() - started
    assert took < 7  # before: 4 attempts of 2 s and the back-off between them, ~12 s
    assert "AgentMagics.timeout" in str(info.value)
    server.reset()
    server.script(Reply(content="", trickle=" "))
    with pytest.raises(ModelError, match="within 2 s"):
        in_thread(call, 30)


# --- {name} whose rendering hangs -----------------------------------------------------
class Hangs:
    """A value whose repr blocks until the test releases it."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def __repr__(self) -> str:
        self.release.wait(60)
        return "Hangs()"


class HangsInMarkdown:
    """A value whose ``_repr_markdown_`` (tried before repr) blocks the same way."""

    def __init__(self, release: threading.Event) -> None:
        self.release = release

    def _repr_markdown_(self) -> str:
        self.release.wait(60)
        return "**shown at last**"


@pytest.mark.parametrize("markdown", [False, True])
def test_a_value_whose_rendering_hangs_is_cut_off(shell, server, db_path, markdown):
    from IPython.core.error import UsageError
    from traitlets import TraitError

    release = threading.Event()
    shell.user_ns["slow"] = (HangsInMarkdown if markdown else Hangs)(release)
    magics = shell.magics_manager.registry["AgentMagics"]
    magics.context_timeout = 0.5
    try:
        # Before: the cell waited for the repr (60 s here; for ever for a repr that hangs).
        with pytest.raises(UsageError) as info:
            in_thread(lambda: shell.run_cell_magic("agent", "session=h", "Explain {slow}"),
                      20)
    finally:
        release.set()  # the abandoned rendering thread ends
    message = str(info.value)
    assert "{slow} was not sent: showing it took longer than 0.5 s" in message
    assert "AgentMagics.context_timeout" in message and "context=off" in message
    assert server.requests == []
    assert DuckDbStore(db_path).list_sessions() == []
    for bad in (0, -1, 10_000):
        with pytest.raises(TraitError, match="context_timeout"):
            magics.context_timeout = bad
