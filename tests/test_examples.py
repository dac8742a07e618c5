"""examples/: phidata's "Memory" docs page, its three scripts with only the imports changed,
run as a user runs them (a fresh process, the real openai client over HTTP to the test
server) and their printed output checked: the history panels, the memories and the
summary right after the first turn (the model takes 1 s per memory call), the sessions
in the SQLite file as ``sqlite3`` shows them. The third runs on the real PostgreSQL
server and again on SQLite (phidata's own SQLite version of it)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from model_server import Reply

EXAMPLES = Path(__file__).parent.parent / "examples"
PHIDATA_DB_URL = '"postgresql+psycopg://ai:ai@localhost:5532/ai"'


def run_example(name: str, server, cwd: Path, replace: tuple[str, str] | None = None) -> str:
    script = cwd / name
    text = (EXAMPLES / name).read_text()
    if replace is not None:  # only where the script names a server we must replace
        assert replace[0] in text
        text = text.replace(*replace)
    script.write_text(text)
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test-secret",
           "COLUMNS": "100"}
    env.pop("AGENTMEM_DB", None)
    out = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    return out.stdout


def unboxed(text: str) -> str:
    """The printed text without rich's panel and tree characters, on one line."""
    return " ".join(re.sub(r"[┃│┏┓┗┛━]", " ", text).split())


def test_agent_memory_example(server, tmp_path):
    out = run_example("agent_memory.py", server, tmp_path)
    turns = out.split("┏━ Message ━")
    assert len(turns) == 3
    first, second = unboxed(turns[1]), unboxed(turns[2])
    assert "Share a 2 sentence horror story" in first and "┏━ Response (" in turns[1]
    assert "'role': 'user', 'content': 'Share a 2 sentence horror story'" in first
    assert "'content': 'echo: Share a 2 sentence horror story'" in first
    # The follow-up went with the history, and the memory shows both runs.
    assert server.of("chat")[-1]["messages"][1]["content"] == "Share a 2 sentence horror story"
    assert "'content': 'What was my first message?'" in second
    assert second.count("'role': 'user'") == 2


def test_persistent_memory_example_on_sqlite(server, tmp_path):
    out = run_example("persistent_memory.py", server, tmp_path)
    panels = out.split("Chat History for session_id: ")
    assert len(panels) == 3
    session_id = panels[1].split()[0]
    assert '"role": "user"' in panels[2] and '"content": "What was my first message?"' in panels[2]
    db_file = tmp_path / "tmp" / "agent_storage.db"
    shown = subprocess.run(["sqlite3", str(db_file), "SELECT session_id, count(*) FROM runs "
                            "GROUP BY session_id"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"{session_id}|2"
    # "View the agent sessions in the sqlite database", as phidata's docs say.
    shown = subprocess.run(["sqlite3", str(db_file), "SELECT * FROM agent_sessions"],
                           capture_output=True, text=True, check=True)
    (row,) = shown.stdout.splitlines()
    assert row.startswith(f"{session_id}||default|")
    assert '"content":"What was my first message?"' in row
    con = sqlite3.connect(db_file)
    try:
        assert con.execute("SELECT count(*) FROM messages").fetchone() == (4,)
    finally:
        con.close()


def script_memory_calls(server) -> None:
    memories = ["The user's name is John Billings.", "The user lives in NYC.",
                "The user is going to a concert tomorrow."]
    server.script(*(Reply(content=None, delay=1.0, tool_calls=[{"name": "add_memory",
                  "arguments": {"memory": m, "topics": ["personal"]}}]) for m in memories),
                  kind="memory")
    server.script(*(Reply(content=json.dumps({"summary": s, "topics": ["personal"]}), delay=1.0)
                    for s in ("John introduced himself.", "John lives in NYC.",
                              "John is going to a concert.")), kind="summary")


def check_memories_after_each_turn(out: str) -> None:
    turns = [unboxed(t) for t in out.split("┏━ Message ━")[1:]]
    assert len(turns) == 4
    first, second, third = turns[:3]
    assert "My name is john billings?" in first
    # Right after the first turn: its memory and summary (not [] and None).
    assert "Memory( memory=\"The user's name is John Billings.\"" in first
    assert "SessionSummary( summary='John introduced himself.', topics=['personal']" in first
    # Newest first, and never a turn behind.
    assert second.index("The user lives in NYC.") < second.index("John Billings")
    assert "summary='John lives in NYC.'" in second
    assert third.index("concert tomorrow") < third.index("NYC")
    assert "summary='John is going to a concert.'" in third
    assert "What have we been talking about, do you know my name?" in turns[3]


def test_personalized_memories_and_summaries_on_postgres(server, pg_url, tmp_path):
    script_memory_calls(server)
    url = pg_url.replace("postgresql://", "postgresql+psycopg://")
    out = run_example("personalized_memories_and_summaries.py", server, tmp_path,
                      replace=(PHIDATA_DB_URL, repr(url)))
    check_memories_after_each_turn(out)
    import psycopg

    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT count(*) FROM agentmem.runs").fetchone() == (4,)


def test_personalized_memories_and_summaries_on_sqlite(server, tmp_path):
    script_memory_calls(server)
    out = run_example("memories_and_summaries_sqlite.py", server, tmp_path)
    check_memories_after_each_turn(out)
    shown = subprocess.run(["sqlite3", str(tmp_path / "tmp" / "agent_memory.db"),
                            "SELECT user_id, memory FROM memories ORDER BY created_at"],
                           capture_output=True, text=True, check=True)
    assert shown.stdout.splitlines() == [
        "john_billings|The user's name is John Billings.", "john_billings|The user lives in NYC.",
        "john_billings|The user is going to a concert tomorrow."]
    shutil.rmtree(tmp_path / "tmp")
