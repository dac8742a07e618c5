"""Export, import and migrate: every row out and back in, ids kept, across backends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.error import UsageError
from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import Store, StoreError, open_store
from jupyter_agentmem.store.archive import read_archive, write_archive
from jupyter_agentmem.types import Memory


def conversation(model, location: str, session: str, user: str, facts: list[str]) -> Store:
    """A session with runs, a summary, memories and edit/delete events, through the agent."""
    store = open_store(location).as_user(user)
    agent = Agent(model=model, storage=AgentStorage(store), session_id=session, user_id=user,
                  add_history_to_messages=True, num_history_responses=1,
                  memory=AgentMemory(create_session_summary=True))
    for fact in facts:
        agent.run(fact)
    assert agent.memory.wait(30)
    memory = store.as_user(user).add_memory(Memory(user_id=user, memory=f"{user} said {facts[0]}",
                                     topics=["t1", "t2"], session_id=session), actor="model")
    store.as_user(user).update_memory(memory.memory_id, f"{user} said it twice", None, actor="user")
    first = store.message_rows(session)[0]["message_id"]
    store.edit_message(first, facts[0] + " (edited)", actor="user")
    store.delete_message(store.message_rows(session)[-1]["message_id"], actor="user")
    return store


def frames(store: Store, session: str, user: str) -> dict[str, pd.DataFrame]:
    """What a user sees of a session and a user, as DataFrames (ids and times included)."""
    def frame(rows: list[dict]) -> pd.DataFrame:
        return pd.DataFrame(rows).astype(str).reset_index(drop=True)

    store = store.as_user(user)
    return {
        "history": frame(store.message_rows(session, include_deleted=True)),
        "memories": frame([m.model_dump() for m in store.as_user(user).user_memories(True)]),
        "summaries": frame([s.model_dump() for s in store.list_summaries(session, True)]),
        "runs": frame([r.model_dump(exclude={"messages"}) for r in store.session_runs(session)]),
        "events": frame(sorted(store.as_user(user).events(), key=lambda e: e["event_id"])),
        "sessions": frame([{k: v for k, v in s.items() if k != "updated_at"}
                           for s in store.list_sessions()]),
    }


@pytest.fixture
def source(server, model, db_path) -> Store:
    store = conversation(model, db_path, "foo", "ana", ["I live in Porto", "I like tea"])
    conversation(model, db_path, "bar", "bob", ["I live in Oslo"])
    return store


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("target_kind", ["duckdb", "postgres"])
def test_export_then_import_into_another_backend_gives_identical_frames(
        source, tmp_path, suffix, target_kind, request):
    path = str(tmp_path / ("foo" + suffix))
    write_archive(source.export_rows(session_id="foo"), path)
    target = open_store(str(tmp_path / "target.duckdb") if target_kind == "duckdb"
                        else request.getfixturevalue("pg_url"))
    added = target.as_user("ana").import_rows(read_archive(path))
    assert added["runs"] == 2 and added["messages"] == 4 and added["summaries"] >= 1
    mine, theirs = frames(source, "foo", "ana"), frames(target, "foo", "ana")
    for name in mine:
        if name == "sessions":  # the source also holds bob's session
            pd.testing.assert_frame_equal(
                mine[name][mine[name]["session_id"] == "foo"].reset_index(drop=True),
                theirs[name])
        else:
            pd.testing.assert_frame_equal(mine[name], theirs[name], check_dtype=False)
    # Twice adds nothing.
    assert set(target.as_user("ana").import_rows(read_archive(path)).values()) == {0}


def test_a_users_export_holds_only_that_user(source, tmp_path):
    rows = source.as_user("ana").export_rows()
    text = json.dumps(rows)
    assert "Porto" in text and "Oslo" not in text and "bob" not in text
    assert {s["session_id"] for s in rows["sessions"]} == {"foo"}
    assert {m["user_id"] for m in rows["memories"]} == {"ana"}


def test_the_transcript_reads_in_order(source, tmp_path):
    path = write_archive(source.export_rows(session_id="foo"), str(tmp_path / "foo.md"))
    text = Path(path).read_text()
    assert text.startswith("# Session foo")
    assert text.index("I live in Porto (edited)") < text.index("I like tea")
    assert "echo: I like tea" not in text  # the deleted message is not in the transcript
    assert "ana said it twice" in text


BAD_FILES = {
    "unknown_table": ({"table": "users", "row": {"x": 1}}, "unknown table"),
    "unknown_column": ({"table": "runs", "row": {"run_id": "r", "evil": "x"}}, "unknown column"),
    "no_key": ({"table": "messages", "row": {"content": "x"}}, "lacks its key"),
    "bad_time": ({"table": "sessions", "row": {"session_id": "s", "created_at": "yesterday",
                                               "updated_at": "now"}}, "not a timestamp"),
    "bad_topics": ({"table": "memories", "row": {"memory_id": "m", "user_id": "ana",
                                                 "memory": "x", "topics": "a,b"}}, "topics"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_bad_file_adds_nothing(source, tmp_path, name):
    line, message = BAD_FILES[name]
    good = source.export_rows(session_id="foo")
    path = tmp_path / "bad.jsonl"
    write_archive(good, str(path))
    with path.open("a") as f:  # valid rows first, the bad one last
        f.write(json.dumps(line) + "\n")
    target = open_store(str(tmp_path / "target.duckdb")).as_user("ana")
    with pytest.raises(StoreError, match=message):
        target.import_rows(read_archive(str(path)))
    assert target.list_sessions() == [] and target.table_rows("messages") == []


def test_a_truncated_file_is_refused(source, tmp_path):
    path = tmp_path / "cut.jsonl"
    write_archive(source.export_rows(session_id="foo"), str(path))
    path.write_text(path.read_text()[:-40])
    with pytest.raises(StoreError, match="not an agentmem .jsonl export"):
        read_archive(str(path))


def test_magics_export_and_import(shell, server, db_path, tmp_path):
    shell.run_cell_magic("agent", "session=nb user=ana", "hello there")
    path = str(tmp_path / "nb.jsonl")
    assert shell.run_line_magic("agent", f"export session=nb user=ana path={path}") == path
    other = str(tmp_path / "other.duckdb")
    shell.run_line_magic("config", f"AgentMagics.db = {other!r}")
    with pytest.raises(UsageError, match="another user"):  # ana's rows, imported as default
        shell.run_line_magic("agent", f"import path={path}")
    added = shell.run_line_magic("agent", f"import path={path} user=ana")
    assert added["runs"] == 1 and added["messages"] == 2
    history = shell.run_line_magic("agent", "history session=nb user=ana")
    assert list(history["content"]) == ["hello there", "echo: hello there"]
    with pytest.raises(UsageError, match="needs path=FILE"):
        shell.run_line_magic("agent", "export session=nb")
    with pytest.raises(UsageError, match="name the file .jsonl"):
        shell.run_line_magic("agent", f"export session=nb path={tmp_path / 'x.txt'}")
    with pytest.raises(UsageError, match="does not exist"):
        shell.run_line_magic("agent", f"import path={tmp_path / 'missing.jsonl'}")


def test_migrate_copies_a_whole_store(source, tmp_path, pg_url):
    source.close()
    for target in (str(tmp_path / "copy.duckdb"), "sqlite:///" + str(tmp_path / "copy.db"),
                   pg_url):
        out = subprocess.run([sys.executable, "-m", "jupyter_agentmem", "migrate",
                              source.path, target], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "messages: 6 read, 6 added" in out.stdout
        copy = open_store(target)
        for session, user in (("foo", "ana"), ("bar", "bob")):
            mine, theirs = frames(source, session, user), frames(copy, session, user)
            for name in ("history", "memories", "summaries", "runs", "events"):
                pd.testing.assert_frame_equal(mine[name], theirs[name], check_dtype=False)
        copy.close()
        source.close()
    again = subprocess.run([sys.executable, "-m", "jupyter_agentmem", "migrate", source.path,
                            pg_url], capture_output=True, text=True, timeout=120)
    assert "messages: 6 read, 0 added" in again.stdout


def test_a_scripted_server_reply_is_exported_as_it_was_stored(server, model, db_path, tmp_path):
    server.script(Reply(content="quotes ' \" ; -- DROP TABLE runs; emoji 🎉\nnew line"))
    store = conversation(model, db_path, "q", "ana", ["tricky"])
    rows = store.export_rows(session_id="q")
    target = open_store(str(tmp_path / "t.duckdb")).as_user("ana")
    target.import_rows(read_archive(write_archive(rows, str(tmp_path / "q.jsonl"))))
    assert [m["content"] for m in target.message_rows("q", include_deleted=True)] == [
        m["content"] for m in store.message_rows("q", include_deleted=True)]


@pytest.mark.parametrize("scope", ["session", "user", "all"])
def test_what_the_model_saw_travels_with_the_runs(source, tmp_path, pg_url, scope):
    path = str(tmp_path / "foo.jsonl")
    rows = {"session": lambda: source.export_rows(session_id="foo"),
            "user": source.export_rows, "all": source.export_all}[scope]()
    write_archive(rows, path)
    target = open_store(pg_url).as_user("ana")
    if scope == "all":  # every user's rows: the file owner's migrate
        target.import_all(read_archive(path))
    else:
        target.import_rows(read_archive(path))
    runs = source.session_runs("foo")
    assert runs and all(source.run_context(r.run_id) is not None for r in runs)
    for run in runs:
        assert target.run_context(run.run_id) == source.run_context(run.run_id)
    if scope != "all":  # bob's requests stay out of ana's and foo's exports
        assert "Oslo" not in json.dumps(rows["request_parts"] + rows["run_contexts"])
    target.close()


@pytest.mark.parametrize("depth", [100_000, 500])
def test_import_of_deeply_nested_json_is_one_usage_error(shell, server, tmp_path, depth):
    """Nested too deep for json (100,000) or for storing it again (500): one UsageError
    naming the file, the line and the field; nothing is imported."""
    shell.run_cell_magic("agent", "session=nb user=ana", "hello there")
    path = str(tmp_path / "deep.jsonl")
    shell.run_line_magic("agent", f"export session=nb user=ana path={path}")
    lines = Path(path).read_text().splitlines()
    (at, message), *_ = [(i, json.loads(line)) for i, line in enumerate(lines)
                         if json.loads(line)["table"] == "messages"]
    row = message["row"] | {"message_id": "m-deep", "content": "x {[", "tool_calls": "DEEP"}
    hostile = json.dumps({"table": "messages", "row": row}).replace(
        '"DEEP"', "[" * depth + "]" * depth)
    Path(path).write_text("\n".join(lines[:at] + [hostile] + lines[at:]) + "\n")
    other = str(tmp_path / "other.duckdb")
    shell.run_line_magic("config", f"AgentMagics.db = {other!r}")
    with pytest.raises(UsageError) as raised:
        shell.run_line_magic("agent", f"import path={path}")
    assert str(raised.value).startswith(
        f"{path}:{at + 1}: the row's field 'tool_calls' is nested ")
    assert shell.run_line_magic("agent", "sessions").empty


# --- bulk import (issue 16, point 5): one write per table, the index in one pass -------
def _generated(messages: int, memories: int) -> dict[str, list[dict]]:
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    from bench_import import export_rows

    return export_rows(messages, memories)


def test_a_large_export_imports_whole_and_searchable_on_every_backend(any_store_location):
    # 5,000 messages: more texts than one statement's parameters can index on SQLite
    # (32,766), more rows than one multi-row INSERT takes.
    rows = _generated(5000, 200)  # many users' rows: the whole-store import (migrate)
    store = open_store(any_store_location)
    added = store.import_all(rows)
    assert added == {table: len(found) for table, found in rows.items()}
    planted = next(m for m in rows["messages"] if "quartzite" in (m["content"] or ""))
    owner = next(s["user_id"] for s in rows["sessions"]
                 if s["session_id"] == planted["session_id"])
    mine = store.as_user(owner)
    hits = mine.search("quartzite zeppelin marigold", kinds=["messages"], limit=3)
    assert hits[0]["id"] == planted["message_id"]
    assert hits[0]["user_id"] == owner
    assert store.as_user("nobody").search("quartzite zeppelin") == []
    memory = rows["memories"][-1]
    assert store.as_user(memory["user_id"]).search(
        memory["memory"], kinds=["memories"])[0]["id"] == memory["memory_id"]
    deleted = next(m for m in rows["messages"] if m["deleted_at"] is not None)
    deleted_owner = next(s["user_id"] for s in rows["sessions"]
                         if s["session_id"] == deleted["session_id"])
    assert deleted["message_id"] not in {h["id"] for h in store.as_user(deleted_owner).search(
        deleted["content"], kinds=["messages"], limit=50)}
    # Twice adds nothing, to the index either (the same hits, the same scores).
    common = mine.search("you the good time", limit=50)
    assert set(store.import_all(rows).values()) == {0}
    assert mine.search("you the good time", limit=50) == common
    out = store.export_all()
    assert {t: len(found) for t, found in out.items()} == {
        t: len(found) for t, found in rows.items()}
    store.close()


def test_an_import_over_part_of_it_adds_the_rest(tmp_path):
    rows = _generated(600, 20)
    half = {table: found[: len(found) // 2] for table, found in rows.items()}
    store = open_store(str(tmp_path / "t.duckdb"))
    store.import_all(half)
    added = store.import_all(rows)
    assert added == {table: len(found) - len(found) // 2 for table, found in rows.items()}
    # Searchable as if imported at once: the same hits, the same scores.
    whole = open_store(str(tmp_path / "whole.duckdb"))
    whole.import_all(rows)
    user = rows["sessions"][0]["user_id"]
    for query in ("you the good time", rows["messages"][5]["content"],
                  rows["messages"][-5]["content"]):
        assert store.as_user(user).search(query, limit=30) == whole.as_user(user).search(
            query, limit=30)
    assert store.as_user(user).search("you the good time", limit=30) != []


def test_a_bad_value_late_in_a_large_file_adds_nothing(any_store_location):
    rows = _generated(3000, 10)
    rows["messages"][-5]["content"] = "fine until here\x00"
    store = open_store(any_store_location)
    with pytest.raises(StoreError, match="NUL byte"):
        store.import_all(rows)
    assert store.table_rows("messages") == [] and store.table_rows("memories") == []
    assert store.table_rows("sessions") == []


def test_rows_of_one_file_may_name_different_columns_and_repeat_a_key(tmp_path):
    store = open_store(str(tmp_path / "t.duckdb"))
    session = {"session_id": "s1", "user_id": "ana", "created_at": "2026-01-01T10:00:00",
               "updated_at": "2026-01-01T10:00:00"}
    added = store.import_all({"sessions": [
        session,  # an export from before m007: no namespace column, so the default
        {**session, "session_id": "s2", "namespace": "agent_sessions",
         "created_at": "2026-01-01T12:00:00+02:00"},  # kept as UTC
        {**session, "user_id": "bob"},  # s1 again: the first row wins
    ]})
    assert added == {"sessions": 2}
    rows = {r["session_id"]: r for r in store.table_rows("sessions")}
    assert rows["s1"]["user_id"] == "ana" and rows["s1"]["namespace"] == "agent_sessions"
    assert str(rows["s2"]["created_at"]) == "2026-01-01 10:00:00"


def test_a_sqlite_export_imports_into_postgres(server, model, tmp_path, pg_url):
    # SQLite gives booleans back as 0 / 1 (model_calls.ok, run_contexts.estimated).
    source = conversation(model, "sqlite://" + str(tmp_path / "s.sqlite"), "foo", "ana",
                          ["I live in Porto", "I like tea"])
    rows = source.export_rows()
    assert rows["run_contexts"][0]["estimated"] in (0, 1)
    target = open_store(pg_url).as_user("ana")
    added = target.import_rows(rows)
    assert added["run_contexts"] == len(rows["run_contexts"]) > 0
    assert [r["ok"] for r in target.table_rows("model_calls")] == [
        bool(r["ok"]) for r in rows["model_calls"]]
    target.close()
