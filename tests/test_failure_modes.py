"""Failure modes found in review: each once lost data, wedged a process or leaked a secret."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings

import pytest
from model_server import Reply, roles_and_contents

from jupyter_agentmem import Agent, AgentMemory, runtime
from jupyter_agentmem.memory import take_failures
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore, StoreError
from jupyter_agentmem.store.postgres import redacted
from jupyter_agentmem.types import Memory, Message, Run


def run_py(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=timeout)


def history_agent(model, db_path, **kwargs) -> Agent:
    return Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                 add_history_to_messages=True, session_id="s", **kwargs)


def test_a_forked_child_does_not_checkpoint_or_drop_the_parents_wal(db_path):
    # The parent keeps its connection open, forks a child that exits, writes more, then
    # dies without closing: every committed run must still be in the file (its WAL).
    out = run_py("""
        import os, sys
        from jupyter_agentmem.store import DuckDbStore
        from jupyter_agentmem.types import Message, Run
        store = DuckDbStore(sys.argv[1], idle_release_s=60)
        def write(text):
            store.append_run(Run(session_id="s", messages=[Message(role="user", content=text)]))
        for i in range(20): write("before")
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # a normal exit runs the child's atexit and finalizers
        os.waitpid(pid, 0)
        for i in range(20): write("after")
        os._exit(0)  # like a SIGKILL: no close, no checkpoint
    """, db_path)
    assert out.returncode == 0, out.stderr
    assert DuckDbStore(db_path).count_runs("s") == 40


def test_ctrl_c_while_waiting_for_the_lock_does_not_keep_it(tmp_path):
    out = run_py("""
        import os, signal, subprocess, sys, threading, time
        from jupyter_agentmem.store.duckdb.file_lock import HandoverLock
        db = sys.argv[1]
        holder = subprocess.Popen([sys.executable, "-c",
            "import sys, time; from jupyter_agentmem.store.duckdb.file_lock import HandoverLock;"
            "l = HandoverLock(sys.argv[1]); l.acquire(5); print('held', flush=True);"
            "time.sleep(1.5); l.release(); time.sleep(5)", db], stdout=subprocess.PIPE, text=True)
        holder.stdout.readline()
        threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            HandoverLock(db).acquire(10)
        except KeyboardInterrupt:
            print("interrupted")
        time.sleep(2)  # the holder has released; our abandoned wait must give it back
        other = subprocess.run([sys.executable, "-c",
            "import sys; from jupyter_agentmem.store.duckdb.file_lock import HandoverLock;"
            "HandoverLock(sys.argv[1]).acquire(2); print('other process got it')", db],
            capture_output=True, text=True)
        print(other.stdout.strip() or other.stderr.strip().splitlines()[-1])
        holder.kill()
    """, str(tmp_path / "k.duckdb"))
    assert out.stdout.splitlines() == ["interrupted", "other process got it"], out.stderr


def test_an_error_while_showing_the_stream_fails_the_run(server, model, db_path):
    agent = history_agent(model, db_path)
    server.script(Reply(content="w0 w1 w2 w3 w4 w5 w6 w7 " * 8))
    seen = []

    def broken_display(delta: str) -> None:
        seen.append(delta)
        if len(seen) == 2:
            raise ValueError("display broke")

    response = agent.respond("hello", on_delta=broken_display)
    assert response.status == "error" and "display broke" in response.error
    (run,) = DuckDbStore(db_path).session_runs("s")
    assert run.status == "error" and run.messages[0].content == "hello"
    agent.run("next")
    assert roles_and_contents(server.of("chat")[-1]) == [("user", "next")]


@pytest.mark.parametrize("reply", [
    Reply(raw_body=b"<html>please log in</html>", raw_content_type="text/html"),
    Reply(raw_body=json.dumps({"id": "x", "object": "chat.completion", "created": 1,
                               "model": "m", "choices": []}).encode(),
          raw_content_type="application/json"),
], ids=["html-login-page", "no-choices"])
def test_a_200_that_is_not_a_reply_is_a_model_error(server, model, db_path, reply):
    agent = history_agent(model, db_path)
    server.script(reply)
    response = agent.respond("hello")
    assert response.status == "error" and response.content is None
    (run,) = DuckDbStore(db_path).session_runs("s")
    assert run.status == "error" and [m.content for m in run.messages] == ["hello"]


def test_a_run_that_cannot_be_stored_raises_and_keeps_the_reply(server, model, db_path,
                                                                monkeypatch):
    agent = history_agent(model, db_path)

    def refuse(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(agent.store, "append_run", refuse)
    response = agent.respond("hello")
    assert response.content == "echo: hello" and response.stored is False
    assert "disk full" in response.error
    with pytest.raises(StoreError, match="disk full"):
        agent.run("plain")
    with pytest.raises(StoreError, match="disk full"):
        list(agent.run("streamed", stream=True))


def test_warnings_as_errors_cannot_wedge_the_memory_worker(server, model, db_path):
    agent = history_agent(model, db_path, user_id="ana",
                          memory=AgentMemory(create_user_memories=True, wait_timeout=5))
    server.script(Reply(status=500), kind="memory")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        agent.run("I like tea")
        assert runtime.idle(5)  # the failing job still finished its bookkeeping
    server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "Ana likes tea.", "topics": []}}]), kind="memory")
    agent.run("I like tea, really")
    assert agent.memory.wait(5)
    assert [m.memory for m in agent.memory.memories] == ["Ana likes tea."]


def test_a_refused_memory_change_skips_only_that_call(server, model, db_path):
    agent = history_agent(model, db_path, user_id="ana",
                          memory=AgentMemory(create_user_memories=True))
    store = DuckDbStore(db_path)
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana has a dog.", topics=[]))
    server.script(Reply(tool_calls=[
        {"name": "delete_memory", "arguments": {"memory_id": "m1"}},
        {"name": "update_memory", "arguments": {"memory_id": "m1", "memory": "Ana has 2 dogs."}},
        {"name": "add_memory", "arguments": {"memory": "Ana has a cat named Tom.",
                                             "topics": []}}]), kind="memory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent.run("my dog is gone; I have a cat, Tom")
        assert agent.memory.wait(10)
    assert [m.memory for m in store.as_user("ana").user_memories()] == ["Ana has a cat named Tom."]
    assert any("was deleted" in f for f in take_failures())


@pytest.mark.parametrize("url", [
    "postgresql://:pw-secret@h/db", "postgresql://u:pw-secret@h/db?x=1",
    "postgresql://u@h/db?password=pw-secret", "postgresql://h/db?user=u&password=pw-secret&a=b",
    "postgresql+psycopg://ai:pw-secret@localhost:5532/ai"])
def test_every_form_of_password_is_redacted(url):
    assert "pw-secret" not in redacted(url) and "***" in redacted(url)


def test_credentials_in_a_base_url_never_reach_an_error(db_path):
    from jupyter_agentmem import OpenAIChat

    model = OpenAIChat(id="m", base_url="http://user:pw-secret@127.0.0.1:9/v1", api_key="k",
                       max_retries=0, timeout=2)
    response = history_agent(model, db_path).respond("hi")
    assert response.status == "error" and "pw-secret" not in response.error
    assert "pw-secret" not in DuckDbStore(db_path).session_runs("s")[0].error


def test_the_cache_never_holds_what_a_caller_rolled_back_or_changed(db_path):
    store = DuckDbStore(db_path)
    first = Run(session_id="s", messages=[Message(role="user", content="q0")])
    store.append_run(first)
    first.messages[0].content = "changed by the caller"
    with pytest.raises(RuntimeError), store.engine.transaction():
        store.append_run(Run(session_id="s", messages=[Message(role="user", content="ghost")]))
        raise RuntimeError("the caller's transaction fails")
    assert [r.messages[0].content for r in store.recent_runs("s", 3)] == ["q0"]
    assert store.append_run(Run(session_id="s", messages=[])) == 1  # no gap from the ghost


def test_the_magic_keeps_one_postgres_connection(shell, pg_url):
    from IPython.utils.capture import capture_output

    shell.run_line_magic("config", f"AgentMagics.db = {pg_url!r}")
    with capture_output():
        for i in range(4):
            shell.run_cell_magic("agent", "session=s", f"turn {i}")
            shell.run_line_magic("agent", "sessions")
    import psycopg

    dbname = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres") as admin:
        (count,) = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                 [dbname]).fetchone()
    assert count == 1  # this process's one connection, however many cells ran


def test_a_database_held_by_another_process_is_a_clear_error_in_the_cell(shell, server,
                                                                          db_path):
    from IPython.core.error import UsageError
    from IPython.utils.capture import capture_output

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import sys, time
        from jupyter_agentmem.store.duckdb.file_lock import HandoverLock
        lock = HandoverLock(sys.argv[1]); lock.acquire(5)
        print("held", flush=True); time.sleep(30)
    """), db_path], stdout=subprocess.PIPE, text=True)
    db = DuckDbStore(db_path).engine
    try:
        assert holder.stdout.readline().strip() == "held"
        db.lock_timeout_s = 0.5
        with pytest.raises(UsageError, match=f"held by process {holder.pid}"):
            shell.run_cell_magic("agent", "session=s", "hello")
        assert server.of("chat") == []  # nothing was sent
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        db.lock_timeout_s = 60
    with capture_output() as out:  # the holder is gone: the same cell now works
        shell.run_cell_magic("agent", "session=s", "hello")
    assert "echo: hello" in out.outputs[-1].data["text/plain"]
