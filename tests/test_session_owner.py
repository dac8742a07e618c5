"""A session belongs to the user who started it: another user gets a clear error, on every
backend, in Agent runs, the store, %agent history/summary and the panel. A session whose
user_id is NULL (stored without a user) is nobody's: anyone may read it, and the first
run with a user claims it."""

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
    store = open_store(any_store_location)
    assert [r.message.content for r in store.session_runs("ana-s")] == ["my secret is 42"]
    agent(model, any_store_location, "ana").run("again")  # ana still can
    assert roles_and_contents(server.of("chat")[-1])[0] == ("user", "my secret is 42")


def test_the_store_refuses_another_users_run_even_from_its_cache(any_store_location):
    store = open_store(any_store_location)
    run = Run(session_id="s", messages=[Message(role="user", content="ana's")])
    store.append_run(run, user_id="ana")  # the run cache now knows the session
    before = store.session_runs("s")
    with pytest.raises(StoreError, match="belongs to another user"):
        store.append_run(Run(session_id="s", messages=[Message(role="user", content="bob")]),
                         user_id="bob")
    assert store.session_runs("s") == before
    assert store.get_session("s").user_id == "ana"
    with pytest.raises(StoreError, match="belongs to another user"):
        store.session_for_user("s", "bob")
    assert store.session_for_user("s", "ana").user_id == "ana"
    assert store.session_for_user("new", "bob") is None


def test_a_session_stored_without_a_user_is_claimed_by_the_first_user(any_store_location):
    store = open_store(any_store_location)
    store.append_run(Run(session_id="legacy", messages=[Message(role="user", content="old")]))
    assert store.get_session("legacy").user_id is None
    assert store.session_for_user("legacy", "bob") is not None  # nobody's: readable
    store.append_run(Run(session_id="legacy", messages=[Message(role="user", content="b")]),
                     user_id="bob")
    assert store.get_session("legacy").user_id == "bob"
    with pytest.raises(StoreError, match="belongs to another user"):
        store.session_for_user("legacy", "ana")


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
    row = open_store(db_path).message_rows("b")[0]
    with pytest.raises(UsageError, match="belongs to another user"):
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
    assert sorted(s["session_id"] for s in DuckDbStore(db_path).list_sessions()) == [
        "anas", "bobs", "mine"]  # the store itself still sees all (export, migrate)
