"""A session belongs to the user who started it: another user gets a clear error, on every
backend, in Agent runs, the store, %agent history/summary and the panel. A session whose
user_id is NULL (stored without a user, by phidata or an older version) is nobody's:
anyone may read it, and the first run with a user claims it. (tests/test_ownership.py
probes every entry point.)"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from model_server import roles_and_contents

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Message, Run


def agent(model, location: str, user: str, session: str = "ana-s") -> Agent:
    return Agent(model=model, storage=AgentStorage(open_store(location)), session_id=session,
                 user_id=user, add_history_to_messages=True)


def test_another_user_cannot_run_in_a_session(server, model, any_store_location):
    agent(model, any_store_location, "ana").run("my secret is 42")
    with pytest.raises(StoreError, match="belongs to another user"):
        agent(model, any_store_location, "bob").run("what is ana's secret?")
    assert len(server.of("chat")) == 1  # bob's message never reached the model
    store = open_store(any_store_location).as_user("ana")
    assert [r.message.content for r in store.session_runs("ana-s")] == ["my secret is 42"]
    assert open_store(any_store_location).as_user("bob").session_runs("ana-s") == []
    agent(model, any_store_location, "ana").run("again")  # ana still can
    assert roles_and_contents(server.of("chat")[-1])[0] == ("user", "my secret is 42")


def test_the_store_refuses_another_users_run_even_from_its_cache(any_store_location):
    store = open_store(any_store_location)
    run = Run(session_id="s", messages=[Message(role="user", content="ana's")])
    store.as_user("ana").append_run(run)  # the run cache now knows the session
    ana = store.as_user("ana")
    before = ana.session_runs("s")
    with pytest.raises(StoreError, match="belongs to another user"):
        store.as_user("bob").append_run(Run(session_id="s", messages=[
            Message(role="user", content="bob")]))
    assert ana.session_runs("s") == before
    assert ana.get_session("s").user_id == "ana"
    assert store.as_user("bob").get_session("s") is None  # another user's: not there
    with pytest.raises(StoreError, match="belongs to another user"):
        store.as_user("bob").usable_session("s")
    assert store.as_user("ana").usable_session("s").user_id == "ana"
    assert store.as_user("bob").usable_session("new") is None


def test_a_session_stored_without_a_user_is_claimed_by_the_first_user(any_store_location):
    store = open_store(any_store_location)
    with store.engine.transaction() as con:  # as phidata or an older version left it
        con.execute("INSERT INTO sessions (session_id, user_id, created_at, updated_at, "
                    "namespace) VALUES ('legacy', NULL, '2026-01-01', '2026-01-01', "
                    "'agent_sessions')")
    assert store.as_user("ana").get_session("legacy").user_id is None  # readable by all
    assert store.as_user("bob").usable_session("legacy") is not None
    store.as_user("bob").append_run(Run(session_id="legacy", messages=[
        Message(role="user", content="b")]))
    assert store.as_user("bob").get_session("legacy").user_id == "bob"
    assert store.as_user("ana").get_session("legacy") is None
    with pytest.raises(StoreError, match="belongs to another user"):
        store.as_user("ana").usable_session("legacy")


def test_magics_refuse_another_users_session(shell, server):
    shell.run_cell_magic("agent", "session=shared", "ana's secret")  # user: default
    with pytest.raises(UsageError, match="belongs to another user"):
        shell.run_cell_magic("agent", "session=shared user=bob", "tell me")
    for line in ("history session=shared user=bob", "summary session=shared user=bob",
                 "panel session=shared user=bob"):
        with pytest.raises(UsageError, match="belongs to another user"):
            shell.run_line_magic("agent", line)
    frame = shell.run_line_magic("agent", "history session=shared")
    assert list(frame["content"])[0] == "ana's secret"
    assert len(server.of("chat")) == 1


def test_history_at_a_message_of_another_users_session_is_refused(shell, server, db_path):
    shell.run_cell_magic("agent", "session=b user=bob", "bob's words")
    row = open_store(db_path).as_user("bob").message_rows("b")[0]
    # Another user's message is not there for ana (nothing said of whose it is).
    with pytest.raises(UsageError, match="No message .* for user 'ana'"):
        shell.run_line_magic("agent", f"history at={row['message_id']} user=ana")
    frame = shell.run_line_magic("agent", f"history at={row['message_id']} user=bob")
    assert "bob's words" in list(frame["content"])


def test_a_user_lists_only_their_sessions(shell, server, db_path):
    from IPython.utils.capture import capture_output

    from jupyter_agentmem.notebook.panel import panel
    from jupyter_agentmem.store import DuckDbStore

    with capture_output():
        shell.run_cell_magic("agent", "session=mine", "hello")  # user default
        shell.run_cell_magic("agent", "session=anas user=ana", "hello")
        shell.run_cell_magic("agent", "session=bobs user=bob", "hello")
    assert list(shell.run_line_magic("agent", "sessions")["session_id"]) == ["mine"]
    assert list(shell.run_line_magic("agent", "sessions user=ana")["session_id"]) == ["anas"]
    p = panel(session_id="anas", user_id="ana", store=DuckDbStore(db_path))
    try:
        assert list(p.sessions_tab.frame["session_id"]) == ["anas"]
    finally:
        p.close()
    assert [s["session_id"] for s in DuckDbStore(db_path).list_sessions()] == [
        "mine"]  # a store acts as "default" unless told otherwise
    assert sorted(r["session_id"] for r in DuckDbStore(db_path).table_rows("sessions")) == [
        "anas", "bobs", "mine"]  # the file's owner sees all (table_rows, export_all)
