"""PostgreSQL: a connection the server killed is replaced once for a fresh transaction;
a server that is down is one clear error naming the host, password hidden."""

from __future__ import annotations

import socket

import psycopg
import pytest
from IPython.core.error import UsageError

from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Message, Run


def kill_backends(url: str) -> int:
    """pg_terminate_backend every other client connection to ``url``'s database
    (AdminShutdown); an autovacuum worker there is not one (it made this count 2 once)."""
    dbname = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'", [dbname]).fetchall()
    return len(rows)


def a_run(text: str) -> Run:
    return Run(session_id="s", messages=[Message(role="user", content=text)])


def test_a_killed_connection_is_replaced_for_the_next_operation(pg_url):
    store = open_store(pg_url).as_user("ana")
    store.as_user("ana").append_run(a_run("before"))
    assert kill_backends(pg_url) == 1
    store.as_user("ana").append_run(a_run("after"))  # reconnects: a fresh transaction
    assert [r.message.content for r in store.session_runs("s")] == ["before", "after"]
    assert kill_backends(pg_url) == 1
    assert store.count_runs("s") == 2  # a read too


def test_the_cell_after_a_dropped_connection_works_and_is_stored(shell, server, pg_url):
    shell.run_line_magic("config", f"AgentMagics.db = {pg_url!r}")
    shell.run_cell_magic("agent", "session=s", "first")
    assert kill_backends(pg_url) == 1
    shell.run_cell_magic("agent", "session=s", "second")
    frame = shell.run_line_magic("agent", "history session=s")
    assert [c for c in frame["content"] if not c.startswith("echo")] == ["first", "second"]


def test_a_connection_lost_inside_a_transaction_stores_nothing_and_says_so(pg_url):
    store = open_store(pg_url).as_user("ana")
    store.as_user("ana").append_run(a_run("before"))
    engine = store.engine
    with pytest.raises(StoreError, match="was lost.*nothing of this operation was stored"):
        with engine.transaction() as con:
            con.execute("SELECT 1")
            kill_backends(pg_url)
            con.execute("INSERT INTO sessions VALUES ('x', NULL, NULL, NULL, now(), now())")
    assert store.get_session("x") is None and store.count_runs("s") == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_is_down_is_a_usage_error_naming_the_host(shell):
    url = f"postgresql://ana:hunter2secret@127.0.0.1:{free_port()}/agentmem"
    with pytest.raises(StoreError) as err:
        open_store(url).count_runs("s")
    assert "127.0.0.1" in str(err.value) and "hunter2secret" not in str(err.value)
    assert "Check that the server is running" in str(err.value)
    shell.run_line_magic("config", f"AgentMagics.db = {url!r}")
    for run in (lambda: shell.run_line_magic("agent", "history"),
                lambda: shell.run_cell_magic("agent", "", "hello")):
        with pytest.raises(UsageError, match="Cannot connect to the PostgreSQL") as err:
            run()
        assert "hunter2secret" not in str(err.value) and "ana:***@127.0.0.1" in str(err.value)
