"""SQLite for real: phidata's SQLite classes write a SQLite file (stdlib sqlite3 reads it)."""

from __future__ import annotations

import os
import sqlite3
import stat
from datetime import datetime

from IPython.utils.capture import capture_output
from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.memory.db import SqliteMemoryDb
from jupyter_agentmem.storage import (
    DuckDbAgentStorage,
    SqlAgentStorage,
    SqliteAgentStorage,
)
from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.sqlite import SqliteStore


def test_sql_agent_storage_writes_a_sqlite_file(server, model, tmp_path):
    db_file = tmp_path / "tmp" / "agent_storage.db"
    agent = Agent(model=model,
                  storage=SqlAgentStorage(table_name="agent_sessions", db_file=str(db_file)),
                  memory=AgentMemory(db=SqliteMemoryDb(db_file=str(db_file)),
                                     create_user_memories=True),
                  add_history_to_messages=True, session_id="s1", user_id="ana")
    server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "Ana likes tea.", "topics": ["food", "drinks"]}}]), kind="memory")
    agent.run("I like tea")
    agent.run("what do I like?")
    assert [m.memory for m in agent.memory.memories] == ["Ana likes tea."]
    assert db_file.read_bytes()[:16] == b"SQLite format 3\x00"
    con = sqlite3.connect(db_file)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert con.execute("SELECT content FROM messages ORDER BY created_at, seq").fetchall() == [
            ("I like tea",), ("echo: I like tea",), ("what do I like?",),
            ("echo: what do I like?",)]
        (topics,) = con.execute("SELECT topics FROM memories").fetchone()
        assert topics == '["food", "drinks"]'  # a JSON list in a TEXT column
    finally:
        con.close()
    # SqliteMemoryDb's default table_name is phidata's "memory".
    memory = SqliteStore(str(db_file)).scoped(memories="memory").as_user("ana").user_memories()[0]
    assert memory.topics == ["food", "drinks"] and isinstance(memory.created_at, datetime)
    # The second turn's request held the first turn: history comes from the file.
    assert [m["content"] for m in server.of("chat")[-1]["messages"][-3:]] == [
        "I like tea", "echo: I like tea", "what do I like?"]


def test_sqlite_files_are_private(tmp_path):
    folder = tmp_path / "new_folder"
    db_file = folder / "agent.db"
    store = SqlAgentStorage(db_file=str(db_file)).store
    store.list_sessions()  # opens the file (WAL: the -wal and -shm files appear)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for path in (db_file, folder / "agent.db-wal", folder / "agent.db-shm"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_sqlite_names_and_urls(tmp_path):
    db_file = str(tmp_path / "a.db")
    assert SqliteAgentStorage is SqlAgentStorage
    by_file = SqlAgentStorage(table_name="t", db_file=db_file)
    by_url = SqlAgentStorage(table_name="t", db_url="sqlite://" + db_file)
    assert by_file.store.engine is by_url.store.engine  # one connection per file
    assert SqliteMemoryDb().table_name == "memory"  # phidata's default table
    memory_only = SqliteMemoryDb()  # neither url nor file: a private in-memory database
    assert memory_only.store.path is None
    try:
        SqlAgentStorage(db_url="postgresql://h/db")
    except ValueError as exc:
        assert "sqlite://" in str(exc)
    else:
        raise AssertionError("a postgresql URL must be refused by the SQLite class")


def test_agentmem_db_selects_sqlite_for_the_magic_and_duckdb_classes(
        shell, server, tmp_path, monkeypatch):
    db_file = tmp_path / "env.sqlite"
    monkeypatch.setenv("AGENTMEM_DB", "sqlite://" + str(db_file))
    with capture_output():
        shell.run_cell_magic("agent", "session=env", "hello sqlite")
    history = shell.run_line_magic("agent", "history session=env")
    assert list(history["content"]) == ["hello sqlite", "echo: hello sqlite"]
    assert db_file.read_bytes()[:16] == b"SQLite format 3\x00"
    assert DuckDbAgentStorage().store.engine is open_store("sqlite://" + str(db_file)).engine
