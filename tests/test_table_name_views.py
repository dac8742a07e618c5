"""phidata's ``table_name`` on every backend: agents with different table names in one
database keep their sessions and memories apart, and each table name is a read-only
view in phidata's row shape that sqlite3, duckdb and psql show."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jupyter_agentmem.memory import MemoryDb
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary

SESSION_COLUMNS = ["session_id", "agent_id", "user_id", "memory", "agent_data", "user_data",
                   "session_data", "created_at", "updated_at"]


def turn(session_id: str, text: str) -> Run:
    return Run(session_id=session_id, model="m", messages=[
        Message(role="user", content=text), Message(role="assistant", content="re: " + text)])


def rows_from_outside(location: str, sql: str) -> tuple[list[str], list[tuple]]:
    """``sql`` as the database's own client shows it, in another process."""
    if location.startswith("sqlite://"):
        out = subprocess.run(["sqlite3", "-header", "-separator", "\t",
                              location.removeprefix("sqlite://"), sql],
                             capture_output=True, text=True, check=True, timeout=60)
        header, *lines = out.stdout.splitlines()
        return header.split("\t"), [tuple(line.split("\t")) for line in lines]
    if location.startswith("postgresql://"):
        out = subprocess.run(["psql", location, "-A", "-F", "\t", "-c",
                              sql.replace("FROM ", "FROM agentmem.")],
                             capture_output=True, text=True, check=True, timeout=60)
        header, *lines = out.stdout.splitlines()
        return header.split("\t"), [tuple(line.split("\t")) for line in lines[:-1]]
    code = ("import duckdb, json, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "cur = con.execute(sys.argv[2]); "
            "print(json.dumps([[d[0] for d in cur.description], cur.fetchall()], default=str))")
    out = subprocess.run([sys.executable, "-c", code, location, sql], capture_output=True,
                         text=True, check=True, timeout=60)
    header, rows = json.loads(out.stdout)
    return header, [tuple(str(v) if v is not None else "" for v in r) for r in rows]


def test_table_names_keep_agents_apart_and_are_views(any_store_location):
    tea = AgentStorage(open_store(any_store_location), "agent_sessions").store.as_user("ana")
    other = AgentStorage(open_store(any_store_location), "other_sessions").store.as_user("ana")
    tea.as_user("ana").append_run(turn("s-tea", "I like tea"))
    tea.add_summary(SessionSummary(session_id="s-tea", summary="Ana likes tea.",
                                   topics=["tea"], through_run_seq=0))
    other.as_user("ana").append_run(turn("s-other", "hello"))
    assert [s["session_id"] for s in tea.list_sessions()] == ["s-tea"]
    assert [s["session_id"] for s in other.list_sessions()] == ["s-other"]
    mem_a = MemoryDb(open_store(any_store_location), "agent_memory").store
    mem_b = MemoryDb(open_store(any_store_location), "team_memory").store
    mem_a.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana likes tea.", topics=["tea"]))
    mem_b.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana works at Acme."))
    assert [m.memory for m in mem_a.as_user("ana").user_memories()] == ["Ana likes tea."]
    assert [m.memory for m in mem_b.as_user("ana").user_memories()] == ["Ana works at Acme."]
    tea.close()

    header, rows = rows_from_outside(any_store_location, "SELECT * FROM agent_sessions")
    assert header == SESSION_COLUMNS
    (row,) = rows
    session = dict(zip(header, row))
    assert (session["session_id"], session["user_id"]) == ("s-tea", "ana")
    memory = json.loads(session["memory"])
    assert [m["content"] for m in memory["messages"]] == ["I like tea", "re: I like tea"]
    assert [m["role"] for m in memory["runs"][0]["response"]["messages"]] == ["user",
                                                                              "assistant"]
    assert memory["summary"] == {"summary": "Ana likes tea.", "topics": ["tea"]}
    assert int(session["created_at"]) > 1_700_000_000  # epoch seconds, as phidata's
    header, rows = rows_from_outside(any_store_location, "SELECT * FROM other_sessions")
    assert [r[0] for r in rows] == ["s-other"]
    header, rows = rows_from_outside(any_store_location, "SELECT * FROM team_memory")
    assert header[:3] == ["id", "user_id", "memory"]
    assert [json.loads(r[2])["memory"] for r in rows] == ["Ana works at Acme."]


def test_bad_table_names_are_refused(any_store_location):
    store = open_store(any_store_location)
    for name in ("sessions", "x; DROP TABLE runs", "Agent-Sessions"):
        with pytest.raises(StoreError, match="invalid table_name"):
            AgentStorage(store, name)
