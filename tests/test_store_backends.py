"""The same store contract on a DuckDB file and on a real PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.utils.capture import capture_output
from model_server import Reply, roles_and_contents

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.memory import MemoryDb
from jupyter_agentmem.storage import AgentStorage, PgAgentStorage
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary

PROC = str(Path(__file__).with_name("agent_proc.py"))
AWKWARD = "it's 100% \"quoted\"; DROP TABLE runs; -- {braces} ? $1 \n newline 🦆"


def turn(session: str, text: str, status: str = "ok") -> Run:
    return Run(session_id=session, status=status, messages=[
        Message(role="user", content=text), Message(role="assistant", content="re: " + text)])


def test_runs_and_history(any_store_location):
    store = open_store(any_store_location)
    for i in range(5):
        store.append_run(turn("s", f"m{i}", status="error" if i == 2 else "ok"))
    store.append_run(turn("other", "x"))
    assert [r.seq for r in store.session_runs("s")] == [0, 1, 2, 3, 4]
    assert [r.messages[0].content for r in store.recent_runs("s", 3)] == ["m1", "m3", "m4"]
    assert [r.seq for r in store.runs_after("s", 1)] == [3, 4]
    assert store.count_runs("s") == 4 and store.count_messages("s") == 10
    rows = store.message_rows("s", offset=2, limit=3)
    assert [(r["run_seq"], r["role"]) for r in rows] == [(1, "user"), (1, "assistant"),
                                                         (2, "user")]
    sessions = {s["session_id"]: s for s in store.list_sessions()}
    assert (sessions["s"]["runs"], sessions["s"]["messages"]) == (4, 10)


def test_awkward_text_round_trips(any_store_location):
    store = open_store(any_store_location)
    big = AWKWARD * 20_000  # ~1 MB
    store.append_run(turn(AWKWARD, big))
    (run,) = store.recent_runs(AWKWARD, 1)
    assert run.messages[0].content == big and run.session_id == AWKWARD


def test_memories_are_scoped_to_their_user_and_undoable(any_store_location):
    store = open_store(any_store_location)
    tea = store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana likes tea.",
                                                 topics=["food"]))
    store.as_user("bob").add_memory(Memory(user_id="bob", memory="Bob likes coffee.", topics=[]))
    with pytest.raises(StoreError):
        store.as_user("bob").update_memory(tea.memory_id, "hijacked", None, "model")
    with pytest.raises(StoreError):
        store.as_user("bob").delete_memory(tea.memory_id, "model")
    store.as_user("ana").update_memory(tea.memory_id, AWKWARD, ["x"], "user")
    assert [m.memory for m in store.as_user("ana").user_memories()] == [AWKWARD]
    last = store.as_user("ana").events(target_id=tea.memory_id)[-1]
    assert (last["action"], last["actor"], json.loads(last["old"])["memory"]) == (
        "update", "user", "Ana likes tea.")
    assert store.as_user("bob").events(target_id=tea.memory_id) == []  # not bob's to see
    with pytest.raises(StoreError, match="does not exist for user 'bob'"):
        store.as_user("bob").undo_event(last["event_id"])
    store.as_user("ana").undo_event(last["event_id"])
    assert [m.memory for m in store.as_user("ana").user_memories()] == ["Ana likes tea."]
    assert store.as_user("ana").delete_user_memories("user") == 1
    assert store.as_user("ana").user_memories() == []
    assert [m.memory for m in store.as_user("bob").user_memories()] == ["Bob likes coffee."]


def test_summaries_and_message_edits(any_store_location):
    store = open_store(any_store_location)
    store.append_run(turn("s", "hello"))
    for text in ("first", "second"):
        store.add_summary(SessionSummary(session_id="s", summary=text, topics=["t"],
                                         through_run_seq=0))
    assert [(s.version, s.summary) for s in store.list_summaries("s")] == [(1, "first"),
                                                                          (2, "second")]
    store.edit_summary("s", 2, "edited", None, "user")
    assert store.latest_summary("s").summary == "edited"
    message_id = store.message_rows("s")[0]["message_id"]
    store.edit_message(message_id, "hello, edited")
    assert store.recent_runs("s", 1)[0].messages[0].content == "hello, edited"
    store.undo_event(store.events(target_id=message_id)[-1]["event_id"])
    assert store.recent_runs("s", 1)[0].messages[0].content == "hello"
    with pytest.raises(StoreError, match="unknown table"):
        store.table_rows("sessions; DROP TABLE runs")


def contents(runs: list[Run]) -> list[str | None]:
    return [m.content for r in runs for m in r.messages]


def test_deleted_message_is_soft_left_out_of_history_and_undoable(any_store_location):
    store = open_store(any_store_location)
    for text in ("a", "b"):
        store.append_run(turn("s", text))
    assert contents(store.recent_runs("s", 2)) == ["a", "re: a", "b", "re: b"]  # cached now
    wrong = store.message_rows("s")[1]["message_id"]
    store.delete_message(wrong, "user")
    # Left out of what the model is sent: history (despite the cache) and summaries' input.
    assert contents(store.recent_runs("s", 2)) == ["a", "b", "re: b"]
    assert contents(store.runs_after("s", -1)) == ["a", "b", "re: b"]
    assert [r["content"] for r in store.message_rows("s")] == ["a", "b", "re: b"]
    assert store.count_messages("s") == 3
    assert {s["session_id"]: s["messages"] for s in store.list_sessions()} == {"s": 3}
    # Soft: the row is kept with deleted_at set, and listed when asked for.
    listed = store.message_rows("s", include_deleted=True)
    assert store.count_messages("s", include_deleted=True) == len(listed) == 4
    assert (listed[1]["message_id"], listed[1]["content"]) == (wrong, "re: a")
    assert listed[1]["deleted_at"] is not None and listed[0]["deleted_at"] is None
    (raw,) = [r for r in store.table_rows("messages") if r["message_id"] == wrong]
    assert raw["content"] == "re: a" and raw["deleted_at"] is not None
    event = store.events(target_id=wrong)[-1]
    assert (event["target"], event["action"], event["actor"], json.loads(event["old"])) == (
        "message", "delete", "user", {"content": "re: a"})
    with pytest.raises(StoreError, match="already deleted"):
        store.delete_message(wrong, "user")
    with pytest.raises(StoreError, match="was deleted"):
        store.edit_message(wrong, "edited while deleted")
    with pytest.raises(StoreError, match="no longer exists"):
        store.delete_message("no-such-message", "user")

    store.undo_event(event["event_id"])
    assert contents(store.recent_runs("s", 2)) == ["a", "re: a", "b", "re: b"]
    assert store.message_rows("s")[1]["deleted_at"] is None
    assert [(e["action"], e["actor"]) for e in store.events(target_id=wrong)] == [
        ("delete", "user"), ("restore", "user")]
    # The restore is undoable too: undoing it deletes the message again.
    store.undo_event(store.events(target_id=wrong)[-1]["event_id"])
    assert contents(store.recent_runs("s", 2)) == ["a", "b", "re: b"]


def test_deleted_summary_version_is_skipped_and_undoable(any_store_location):
    store = open_store(any_store_location)
    for text in ("first", "second"):
        store.add_summary(SessionSummary(session_id="s", summary=text, through_run_seq=0))
    store.delete_summary("s", 2, "user")
    assert store.latest_summary("s").summary == "first"
    assert [s.version for s in store.list_summaries("s")] == [1]
    assert [(s.version, s.deleted_at is not None) for s in
            store.list_summaries("s", include_deleted=True)] == [(1, False), (2, True)]
    (raw,) = [r for r in store.table_rows("summaries") if r["version"] == 2]
    assert raw["summary"] == "second" and raw["deleted_at"] is not None
    event = store.events(target_id="s#2")[-1]
    assert (event["target"], event["action"], event["session_id"], json.loads(event["old"])) \
        == ("summary", "delete", "s", {"summary": "second"})
    with pytest.raises(StoreError, match="was deleted"):
        store.edit_summary("s", 2, "edited while deleted", None, "user")
    # A new version never reuses a deleted version's number.
    assert store.add_summary(SessionSummary(session_id="s", summary="third")).version == 3
    store.delete_summary("s", 3, "user")

    store.undo_event(event["event_id"])
    assert store.latest_summary("s").summary == "second"
    store.delete_summary("s", 2, "user")
    store.delete_summary("s", 1, "user")
    assert store.latest_summary("s") is None and store.list_summaries("s") == []


def _m001_database(location: str) -> None:
    """A database as the first release left it (only m001), with one run and summary."""
    from jupyter_agentmem.store.sql import migrations
    from jupyter_agentmem.types import utcnow

    if location.startswith("postgresql"):
        import psycopg

        from jupyter_agentmem.store.postgres.dialect import POSTGRES
        from jupyter_agentmem.store.postgres.engine import PgConnection

        raw = psycopg.connect(location, autocommit=True, cursor_factory=psycopg.ClientCursor)
        raw.execute("CREATE SCHEMA agentmem")  # where the store keeps its tables
        raw.execute("SET search_path TO agentmem")
        con: Any = PgConnection(raw)
        dialect = POSTGRES
    elif location.startswith("sqlite://"):
        import sqlite3

        from jupyter_agentmem.store.sqlite.dialect import SQLITE
        from jupyter_agentmem.store.sqlite.engine import SqliteConnection, sqlite_path

        raw = sqlite3.connect(sqlite_path(location), isolation_level=None)
        con = SqliteConnection(raw)
        dialect = SQLITE
    else:
        import duckdb

        from jupyter_agentmem.store.duckdb.dialect import DUCKDB

        con = raw = duckdb.connect(location)
        dialect = DUCKDB
    migrations.migrate(con, dialect, upto=1)
    now = utcnow()
    con.execute("INSERT INTO runs (run_id, session_id, seq, status, created_at) "
                "VALUES ('r0', 's', 0, 'ok', ?)", [now])
    con.execute("INSERT INTO messages (message_id, session_id, run_id, seq, role, content, "
                "created_at) VALUES ('m0', 's', 'r0', 0, 'user', 'kept', ?)", [now])
    con.execute("INSERT INTO summaries (session_id, version, summary, through_run_seq, "
                "created_at) VALUES ('s', 1, 'old summary', 0, ?)", [now])
    raw.close()


def test_m002_upgrades_a_database_made_by_m001(any_store_location):
    from jupyter_agentmem.store.sql import migrations

    _m001_database(any_store_location)
    store = open_store(any_store_location)
    assert [r["version"] for r in store.table_rows("schema_migrations")] == list(
        range(1, len(migrations.MIGRATIONS) + 1))  # every migration after m001 ran
    assert [(r["content"], r["deleted_at"]) for r in store.message_rows("s")] == [("kept", None)]
    assert store.latest_summary("s").summary == "old summary"
    store.delete_message("m0", "user")
    store.delete_summary("s", 1, "user")
    assert store.message_rows("s") == [] and store.latest_summary("s") is None
    store.append_run(turn("s", "new"))  # the insert fits the new column count
    assert contents(store.recent_runs("s", 5)) == ["new", "re: new"]


def test_agent_with_phidata_postgres_classes(server, model, pg_url):
    url = pg_url.replace("postgresql://", "postgresql+psycopg://")  # phidata's URL form
    from jupyter_agentmem.memory import PgMemoryDb

    agent = Agent(model=model, storage=PgAgentStorage(table_name="s", db_url=url),
                  memory=AgentMemory(db=PgMemoryDb(table_name="m", db_url=url),
                                     create_user_memories=True),
                  add_history_to_messages=True, session_id="pg", user_id="ana")
    server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "Ana lives in Porto.", "topics": ["home"]}}]), kind="memory")
    agent.run("I live in Porto")
    agent.memory.wait(10)
    agent.run("where do I live?")
    body = server.of("chat")[-1]
    assert "- Ana lives in Porto." in body["messages"][0]["content"]
    assert roles_and_contents(body)[1:] == [("user", "I live in Porto"),
                                            ("assistant", "echo: I live in Porto"),
                                            ("user", "where do I live?")]


def test_a_password_in_the_url_is_never_shown(shell, server, pg_url):
    url = pg_url.replace("agentmem@", "agentmem:pw-secret@")  # trust auth ignores it
    store = open_store(url)
    assert "pw-secret" not in store.path and "pw-secret" not in repr(store)
    assert store.path == url.replace("pw-secret", "***")
    shell.run_line_magic("config", f"AgentMagics.db = {url!r}")
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=s", "hi")
        sessions = shell.run_line_magic("agent", "sessions")
    assert "pw-secret" not in out.stdout + "".join(str(o.data) for o in out.outputs)
    assert "pw-secret" not in sessions.to_string()


def test_magic_on_postgres(shell, server, pg_url):
    shell.run_line_magic("config", f"AgentMagics.db = {pg_url!r}")
    with capture_output():
        shell.run_cell_magic("agent", "session=team", "hello from a team")
        shell.run_cell_magic("agent", "session=team", "again")
    history = shell.run_line_magic("agent", "history session=team")
    assert list(history["content"]) == ["hello from a team", "echo: hello from a team",
                                        "again", "echo: again"]
    assert roles_and_contents(server.of("chat")[-1])[0] == ("user", "hello from a team")


def test_panel_edits_reach_postgres(pg_url):
    from jupyter_agentmem import panel

    store = open_store(pg_url)
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana likes tea.", topics=[]))
    p = panel(user_id="ana", store=store)
    p.memories.set_cell_value("memory", 0, "Ana likes green tea.")
    assert [m.memory for m in open_store(pg_url).as_user("ana").user_memories()] == [
        "Ana likes green tea."]
    p.close()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_four_processes_share_one_session(server, backend, tmp_path, request):
    db = (request.getfixturevalue("pg_url") if backend == "postgres"
          else "sqlite://" + str(tmp_path / "shared.sqlite"))
    procs = [subprocess.Popen(
        [sys.executable, PROC, json.dumps({"db": db, "base_url": server.base_url,
                                           "session": "shared", "history": 3,
                                           "messages": [f"p{p}-t{t}" for t in range(50)]})],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for p in range(4)]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    store = AgentStorage(open_store(db)).store
    runs = store.session_runs("shared")
    assert [r.seq for r in runs] == list(range(200))  # no gap, no duplicate
    assert store.count_messages("shared") == 400
    assert sorted(r.messages[0].content for r in runs) == sorted(
        f"p{p}-t{t}" for p in range(4) for t in range(50))
    assert MemoryDb(store).store.engine is store.engine  # a handle on the same database


def test_edits_are_compare_and_set(any_store_location):
    """``expected`` = the row as the caller read it: a stale edit writes nothing and says
    what the row holds now; only the columns given are written."""
    from jupyter_agentmem.store import StaleEdit

    store = open_store(any_store_location)
    tea = store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana likes tea.",
                                                 topics=["food"]))
    read = {"memory": "Ana likes tea.", "topics": ["food"]}
    store.as_user("ana").update_memory(tea.memory_id, "Ana likes green tea.", None, "model")
    events = len(store.as_user("ana").events(target_id=tea.memory_id))
    with pytest.raises(StaleEdit, match="memory is now 'Ana likes green tea.'") as info:
        store.as_user("ana").update_memory(tea.memory_id, None, ["drinks"], "user", expected=read)
    assert info.value.current == {"memory": "Ana likes green tea.", "topics": ["food"]}
    assert len(store.as_user("ana").events(target_id=tea.memory_id)) == events  # unchanged
    # Topics only: the text someone else wrote stays.
    fresh = {"memory": "Ana likes green tea.", "topics": ["food"]}
    stored = store.as_user("ana").update_memory(tea.memory_id, None, ["drinks"], "user",
                                                expected=fresh)
    assert (stored.memory, stored.topics) == ("Ana likes green tea.", ["drinks"])
    last = store.as_user("ana").events(target_id=tea.memory_id)[-1]
    assert (json.loads(last["old"]), json.loads(last["new"])) == (
        fresh, {"memory": "Ana likes green tea.", "topics": ["drinks"]})
    with pytest.raises(StoreError, match="nothing to change"):
        store.as_user("ana").update_memory(tea.memory_id, None, None, "user")

    store.append_run(turn("s", "hello"))
    store.add_summary(SessionSummary(session_id="s", summary="first", topics=["t"],
                                     through_run_seq=0))
    store.edit_summary("s", 1, "edited elsewhere", None, "model")
    with pytest.raises(StaleEdit, match="summary is now 'edited elsewhere'"):
        store.edit_summary("s", 1, None, ["u"], "user",
                           expected={"summary": "first", "topics": ["t"]})
    store.edit_summary("s", 1, None, ["u"], "user",
                       expected={"summary": "edited elsewhere", "topics": ["t"]})
    (summary,) = store.list_summaries("s")
    assert (summary.summary, summary.topics) == ("edited elsewhere", ["u"])

    message_id = store.message_rows("s")[0]["message_id"]
    store.edit_message(message_id, "hello, edited")
    with pytest.raises(StaleEdit, match="content is now 'hello, edited'"):
        store.edit_message(message_id, "mine", expected={"content": "hello"})
    assert store.get_message(message_id)["content"] == "hello, edited"
    store.edit_message(message_id, "mine", expected={"content": "hello, edited"})
    assert store.get_message(message_id)["content"] == "mine"


def test_postgres_keeps_its_tables_in_its_own_schema(pg_url):
    import psycopg

    # A shared team database that already has tables with our names in public.
    with psycopg.connect(pg_url, autocommit=True) as raw:
        raw.execute("CREATE TABLE sessions (id serial PRIMARY KEY, note text)")
        raw.execute("CREATE TABLE messages (body text)")
        raw.execute("CREATE TABLE memories (who text, what text)")
        raw.execute("INSERT INTO sessions (note) VALUES ('theirs')")
    store = open_store(pg_url)
    store.append_run(turn("s", "hello"))
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana likes tea."))
    assert contents(store.recent_runs("s", 1)) == ["hello", "re: hello"]
    ai = PgAgentStorage(table_name="agent_sessions", schema="ai", db_url=pg_url).store
    ai.append_run(turn("s", "in ai"))
    in_url = open_store(pg_url + "?schema=ai")
    assert in_url.engine is ai.engine and "schema=ai" in in_url.path
    assert contents(in_url.recent_runs("s", 5)) == ["in ai", "re: in ai"]
    with psycopg.connect(pg_url, autocommit=True) as raw:
        assert raw.execute("SELECT note FROM public.sessions").fetchall() == [("theirs",)]
        assert raw.execute("SELECT count(*) FROM public.messages").fetchone() == (0,)
        assert raw.execute("SELECT count(*) FROM public.memories").fetchone() == (0,)
        tables = raw.execute(
            "SELECT table_schema, count(*) FROM information_schema.tables "
            "WHERE table_name IN ('sessions', 'runs', 'messages', 'memories') "
            "GROUP BY table_schema ORDER BY table_schema").fetchall()
        assert tables == [("agentmem", 4), ("ai", 4), ("public", 3)]
    with pytest.raises(ValueError, match="schema"):
        PgAgentStorage(table_name="t", schema='x"; DROP TABLE sessions; --', db_url=pg_url)
