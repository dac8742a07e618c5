"""Purge (issue 10, point 7): ``%agent forget ... purge=yes confirm=yes`` removes text for good.

A unique marker is planted in a user's message and reaches a memory, a summary, a
later prompt and the user's search index snapshots (written here from the first text:
``SNAPSHOT_MIN_DOCS`` is 1) through the scripted model server; after the purge it is in
none of the database's bytes (DuckDB file and WAL, SQLite file and WAL; PostgreSQL
rows), no index snapshot, the next prompt the server receives, or any export; other
users' rows are untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from model_server import Reply
from outputs import shown_text

from jupyter_agentmem import runtime
from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.archive import write_archive

# One word: the search index keeps it as one (lower-cased) term, looked for too.
MARKER = "QZXVpurgeMarker7731"
NEEDLES = (MARKER.encode(), MARKER.lower().encode())
COUNTED = ("sessions", "runs", "messages", "memories", "summaries", "run_contexts",
           "memory_events", "search_docs", "provenance")


@pytest.fixture(autouse=True)
def snapshots_of_any_size(monkeypatch):
    from jupyter_agentmem.store.sql import search_index

    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)


def marker_in_snapshots(store) -> int:
    """The marker in the search index's snapshots: its files (DuckDB, SQLite) or rows."""
    with store.engine.connection() as con:
        rows = con.execute("SELECT data FROM search_snapshots").fetchall()
    files = store.search_index().snapshots.files()
    return sum(data.count(needle) for data in [bytes(r[0]) for r in rows]
               + [Path(f).read_bytes() for f in files] for needle in NEEDLES)


def snapshot_parts(store, user: str) -> set[str]:
    with store.engine.connection() as con:
        return set(store.search_index().snapshots.parts(con, user))


def add_memory(text: str) -> Reply:
    return Reply(tool_calls=[{"name": "add_memory", "arguments": {"memory": text,
                                                                 "topics": ["t"]}}])


def cell(shell, options: str, text: str) -> None:
    with capture_output():
        shell.run_cell_magic("agent", options, text)
    assert runtime.idle(20)


def read_summary(shell, session: str, user: str) -> None:
    # Summaries are lazy: reading one brings it up to the session's last run.
    with capture_output():
        shell.run_line_magic("agent", f"summary session={session} user={user}")


def plant(shell, server) -> None:
    """ana: session a1 with the marker (-> a memory and summary v2), a2 sees the memory
    in its prompt; bob: session b1 with his own memory and summary."""
    opts = "memories=on summary=on"
    cell(shell, f"session=a1 user=ana {opts}", "hello there")
    read_summary(shell, "a1", "ana")
    server.script(Reply(content="Noted."))  # the reply does not repeat the marker
    server.script(add_memory(f"Ana's locker code is {MARKER}."), kind="memory")
    server.script(Reply(content=json.dumps({"summary": f"Ana gave her code {MARKER}.",
                                            "topics": ["code"]})), kind="summary")
    cell(shell, f"session=a1 user=ana {opts}", f"My locker code is {MARKER}, remember it")
    read_summary(shell, "a1", "ana")
    cell(shell, f"session=a2 user=ana {opts}", "what do you know about me?")
    assert MARKER in json.dumps(server.of("chat")[-1])  # the memory reached a prompt
    server.script(add_memory("Bob likes tea."), kind="memory")
    cell(shell, f"session=b1 user=bob {opts}", "I like tea")
    read_summary(shell, "b1", "bob")
    # A search builds ana's index (messages, exchanges, memories, summaries): each
    # partition is kept as a snapshot, which holds the marker's term.
    with capture_output():
        found = shell.run_line_magic("agent", f"search {MARKER} user=ana")
    assert set(found["kind"]) == {"messages", "memories", "summaries"}


def bob_counts(store) -> dict[str, int]:
    rows = store.as_user("bob").export_rows()
    return {table: len(rows[table]) for table in COUNTED if table in rows}


def database_files(location: str) -> list[Path]:
    """The database's files, its search index's snapshot files among them."""
    path = Path(location.removeprefix("sqlite://"))
    index = Path(str(path) + ".search")
    return [Path(str(path) + suffix) for suffix in ("", ".wal", "-wal", "-shm")] + (
        sorted(index.iterdir()) if index.is_dir() else [])


def marker_bytes(location: str) -> int:
    return sum(p.read_bytes().count(needle) for p in database_files(location)
               if p.exists() for needle in NEEDLES)


def exports(shell, store, tmp_path: Path, tag: str) -> list[Path]:
    """Every export of ana's data (and the whole store's): .md, .jsonl, .parquet."""
    made = []
    for suffix in (".md", ".jsonl", ".parquet"):
        for scope in ("user=ana", "session=a1 user=ana", "session=a2 user=ana"):
            path = tmp_path / (tag + scope.replace("=", "-").replace(" ", "_") + suffix)
            with capture_output():
                made.append(Path(shell.run_line_magic("agent",
                                                      f"export {scope} path={path}")))
        made.append(Path(write_archive(store.export_all(),
                                       str(tmp_path / (tag + "all" + suffix)))))
    return made


def marker_in_exports(paths: list[Path]) -> int:
    found = 0
    for path in paths:
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        found += sum(f.read_bytes().count(needle) for f in files if f.is_file()
                     for needle in NEEDLES)
    return found


def use(shell, location: str) -> None:
    shell.run_line_magic("config", f"AgentMagics.db = {location!r}")


@pytest.fixture(params=["duckdb", "sqlite"])
def file_location(request, tmp_path) -> str:
    if request.param == "duckdb":
        return str(tmp_path / "agentmem.duckdb")
    return "sqlite://" + str(tmp_path / "agentmem.sqlite")


def test_a_user_purge_leaves_the_marker_nowhere(shell, server, file_location, tmp_path):
    use(shell, file_location)
    plant(shell, server)
    store = open_store(file_location).as_user("ana")
    store.close()  # DuckDB: checkpointed into the file; SQLite: the WAL is folded in
    assert marker_bytes(file_location) > 0  # what the test looks for is there before
    assert marker_in_snapshots(store) > 0
    assert len(database_files(file_location)) > 4  # the index's files are looked in too
    assert snapshot_parts(store, "ana") == {"messages", "exchanges", "memories", "summaries"}
    assert marker_in_exports(exports(shell, store, tmp_path, "before")) > 0
    bob = bob_counts(store)

    with pytest.raises(UsageError, match=r"(?s)all data of user 'ana'.*2 sessions.*"
                                         r"4 runs? *|confirm=yes") as refused:
        shell.run_line_magic("agent", "forget user=ana purge=yes")
    assert "confirm=yes" in str(refused.value) and "1 memories" in str(refused.value)
    assert store.count_messages("a1") == 4  # nothing purged without confirm=yes

    with capture_output() as out:
        shell.run_line_magic("agent", "forget user=ana purge=yes confirm=yes")
    assert "Purged all data of user 'ana'" in out.stdout
    assert marker_bytes(file_location) == 0
    assert marker_in_snapshots(store) == 0 and snapshot_parts(store, "ana") == set()
    assert store.search(MARKER.lower()) == []  # no index row left either
    assert store.as_user("ana").user_memories(include_deleted=True) == []
    assert store.count_messages("a1", include_deleted=True) == 0
    assert store.as_user("ana").list_sessions() == []
    assert bob_counts(store) == bob  # bob's rows are untouched
    assert [m.memory for m in store.as_user("bob").user_memories()] == ["Bob likes tea."]
    # The usage ledger keeps ana's numbers (4 chat calls), no text.
    chats = [r for r in store.as_user("ana").usage_rows() if r["kind"] == "chat"]
    assert len(chats) == 3 and all(r["input_tokens"] for r in chats)
    # The audit trail keeps hashes: the memory's add event has no text left.
    events = store.as_user("ana").events()
    assert events and MARKER not in json.dumps(events, default=str)
    assert any('"sha256"' in (e["new"] or "") for e in events)

    # The next prompt ana's agent sends holds nothing of it.
    cell(shell, "session=a3 user=ana memories=on summary=on", "what do you know about me?")
    prompt = server.of("chat")[-1]
    assert prompt["messages"][-1]["content"] == "what do you know about me?"
    assert MARKER not in json.dumps(prompt)
    assert marker_bytes(file_location) == 0
    assert marker_in_exports(exports(shell, store, tmp_path, "after")) == 0
    store.close()
    assert marker_bytes(file_location) == 0


def test_a_session_purge_takes_what_derives_from_it(shell, server, db_path, tmp_path):
    plant(shell, server)
    store = open_store(db_path).as_user("ana")
    bob = bob_counts(store)
    a2_messages = store.count_messages("a2")
    assert marker_in_snapshots(store) > 0
    with capture_output():
        shell.run_line_magic("agent", "forget session=a1 user=ana purge=yes confirm=yes")
    assert marker_bytes(db_path) == 0
    # ana's index is written again without the purged texts: a2's messages stay found.
    assert marker_in_snapshots(store) == 0 and "messages" in snapshot_parts(store, "ana")
    assert store.as_user("ana").search(MARKER) == []
    assert {h["session_id"] for h in store.as_user("ana").search("what do you know")} == {
        "a2"}
    assert store.get_session("a1") is None
    assert store.as_user("ana").user_memories(include_deleted=True) == []  # derived from a1
    assert store.count_messages("a2") == a2_messages  # ana's other session stays
    # a2's stored request quoted the memory: it now says [purged] in its place.
    with capture_output() as out:
        shell.run_line_magic("agent", "context session=a2 user=ana")
    assert MARKER not in shown_text(out) and "[purged]" in shown_text(out)
    assert bob_counts(store) == bob
    cell(shell, "session=a2 user=ana memories=on", "and now?")
    assert MARKER not in json.dumps(server.of("chat")[-1])
    assert marker_in_exports(exports(shell, store, tmp_path, "s")) == 0
    assert marker_bytes(db_path) == 0
    # Someone else's session is refused, and nothing of it goes.
    with pytest.raises(UsageError, match="does not belong to user 'ana'"):
        shell.run_line_magic("agent", "forget session=b1 user=ana purge=yes confirm=yes")
    assert bob_counts(store) == bob


def test_a_message_purge_rebuilds_the_summary_without_it(shell, server, db_path, tmp_path):
    plant(shell, server)
    store = open_store(db_path).as_user("ana")
    bob = bob_counts(store)
    secret = next(r for r in store.message_rows("a1") if MARKER in (r["content"] or ""))
    assert [s.version for s in store.list_summaries("a1")] == [1, 2]
    assert MARKER in store.list_summaries("a1")[-1].summary  # it reached the summary
    with pytest.raises(UsageError, match="message .* of user 'ana'.*1 messages.*confirm=yes"):
        shell.run_line_magic("agent", f"forget message={secret['message_id']} user=ana "
                                      "purge=yes")
    assert marker_in_snapshots(store) > 0
    with capture_output():
        shell.run_line_magic("agent", f"forget message={secret['message_id']} user=ana "
                                      "purge=yes confirm=yes")
    assert marker_bytes(db_path) == 0
    assert marker_in_snapshots(store) == 0  # (its one memory went: no snapshot of none)
    assert snapshot_parts(store, "ana") == {"messages", "exchanges", "summaries"}
    assert store.as_user("ana").search(MARKER) == []
    # The run's reply stays found, as a message and as (what is left of) its exchange.
    assert [h["id"] for h in store.as_user("ana").search("Noted", kinds=["messages"])] == [
        store.message_rows("a1")[-1]["message_id"]]
    assert [run for run, _ in store.as_user("ana").search_ids("noted", "exchanges", 5)] == [
        secret["run_id"]]
    assert store.get_message(secret["message_id"]) is None
    # The run stays (its reply), the memory and summary v2 made from it go, v1 stays.
    assert [r["content"] for r in store.message_rows("a1")] == [
        "hello there", "echo: hello there", "Noted."]
    assert store.as_user("ana").user_memories(include_deleted=True) == []
    assert [s.version for s in store.list_summaries("a1", include_deleted=True)] == [1]
    # The runs after v1 are folded in again (here when the summary is next read): a
    # summary rebuilt without it.
    cell(shell, "session=a1 user=ana memories=on summary=on", "next question")
    assert MARKER not in json.dumps(server.of("chat")[-1])
    read_summary(shell, "a1", "ana")
    rebuilt = server.of("summary")[-1]
    assert "Noted." in json.dumps(rebuilt) and MARKER not in json.dumps(rebuilt)
    assert [s.version for s in store.list_summaries("a1")][-1] == 2
    assert marker_in_exports(exports(shell, store, tmp_path, "m")) == 0
    assert marker_bytes(db_path) == 0
    assert bob_counts(store) == bob


def test_purge_on_postgres_deletes_the_rows(shell, server, pg_url):
    import psycopg

    use(shell, pg_url)
    plant(shell, server)
    store = open_store(pg_url).as_user("ana")
    bob = bob_counts(store)

    def marked() -> dict[str, int]:
        with psycopg.connect(pg_url) as con:
            con.execute("SET search_path TO agentmem")
            return {table: con.execute(
                f"SELECT count(*) FROM {table} t WHERE t::text LIKE %s",
                ["%" + MARKER + "%"]).fetchone()[0]
                for table in ("messages", "memories", "summaries", "memory_events",
                              "request_parts")} | {
                "search_snapshots": con.execute(
                    "SELECT count(*) FROM search_snapshots WHERE position(%s in data) > 0",
                    [MARKER.lower().encode()]).fetchone()[0]}

    assert sum(marked().values()) > 0
    with capture_output():
        shell.run_line_magic("agent", "forget user=ana purge=yes confirm=yes")
    assert marked() == dict.fromkeys(marked(), 0)
    assert bob_counts(store) == bob
    with psycopg.connect(pg_url) as con:
        con.execute("SET search_path TO agentmem")
        assert con.execute("SELECT count(*) FROM messages m JOIN sessions s "
                           "USING (session_id) WHERE s.user_id = 'ana'").fetchone()[0] == 0


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_deleted_rows_keep_their_bytes_until_the_file_is_scrubbed(backend, tmp_path,
                                                                  monkeypatch):
    # Why the engines scrub after a purge. DuckDB: after DELETE and a checkpoint the
    # freed blocks still hold the text. SQLite (secure_delete zeroes the freed pages):
    # the WAL still holds the pages as they were before the DELETE.
    from jupyter_agentmem.types import Message, Run

    location = (str(tmp_path / "x.duckdb") if backend == "duckdb"
                else "sqlite://" + str(tmp_path / "x.sqlite"))
    store = open_store(location).as_user("ana")
    store.as_user("ana").append_run(Run(session_id="s", messages=[
        Message(role="user", content=f"{MARKER} " * 50)]))
    if backend == "duckdb":
        store.close()  # checkpointed: the text is in the file itself
    engine = store.engine
    monkeypatch.setattr(type(engine), "scrub", lambda self: None)
    store.as_user("ana").purge()
    if backend == "duckdb":
        store.close()
    assert marker_bytes(location) > 0
    monkeypatch.undo()
    engine.scrub()
    assert marker_bytes(location) == 0
    store.close()
    assert marker_bytes(location) == 0
    assert os.stat(location.removeprefix("sqlite://")).st_mode & 0o777 == 0o600


def test_purge_options_are_checked(shell, server):
    cell(shell, "session=a1 user=ana", "hello")
    for line, says in [
        ("forget purge=yes confirm=yes", "needs what to purge"),
        ("forget session=a1 user=ana confirm=yes", "add purge=yes"),
        ("forget purge=maybe user=ana", "use one of yes"),
        ("forget session=a1 message=x purge=yes user=ana", "not both"),
        ("forget message=nope purge=yes user=ana confirm=yes", "does not exist"),
        ("forget session=a1 user=bob purge=yes confirm=yes", "does not belong to user 'bob'"),
    ]:
        with pytest.raises(UsageError, match=says):
            shell.run_line_magic("agent", line)


def test_rows_stored_before_provenance_are_purged_safely(any_store_location):
    """Memories and summaries without provenance (stored before m009): a session purge
    takes the user's memories made in that session; a message purge those made in its
    session from its run's user text, and the summary versions covering its run."""
    from jupyter_agentmem.store.base import StoreError
    from jupyter_agentmem.types import Memory, Message, Run, SessionSummary

    store = open_store(any_store_location).as_user("ana")
    runs = []
    for text in ("first", f"secret {MARKER}", "third"):
        run = Run(session_id="s", messages=[Message(role="user", content=text),
                                            Message(role="assistant", content="ok")])
        store.as_user("ana").append_run(run)
        runs.append(run)
    store.as_user("ana").append_run(Run(session_id="t", messages=[Message(role="user",
                                                                          content="t")]))
    for session, text, source in [("s", f"Ana's secret is {MARKER}.", f"secret {MARKER}"),
                                  ("s", "Ana says first.", "first"),
                                  ("t", "Ana was in t.", "t"), (None, "Typed by hand.", None)]:
        store.as_user("ana").add_memory(Memory(user_id="ana", memory=text, session_id=session,
                                               input=source))
    # bob's memory with the same input text (a memory cannot name ana's session: refused)
    store.as_user("bob").add_memory(Memory(user_id="bob", memory="Bob's.", input="first"))
    for through, text in ((0, "v1 first"), (1, f"v2 {MARKER}"), (2, "v3 still derived")):
        store.add_summary(SessionSummary(session_id="s", summary=text, through_run_seq=through))
    secret = runs[1].messages[0].message_id

    store.as_user("ana").purge(message_id=secret)
    assert sorted(m.memory for m in store.as_user("ana").user_memories(include_deleted=True)) == [
        "Ana says first.", "Ana was in t.", "Typed by hand."]
    assert [s.summary for s in store.list_summaries("s", include_deleted=True)] == ["v1 first"]
    assert MARKER not in json.dumps(store.export_rows(), default=str)

    store.as_user("ana").purge(session_id="s")
    assert sorted(m.memory for m in store.as_user("ana").user_memories(include_deleted=True)) == [
        "Ana was in t.", "Typed by hand."]
    assert [m.memory for m in store.as_user("bob").user_memories()] == ["Bob's."]
    # A memory derived from a purged run is refused afterwards (a late background job).
    with pytest.raises(StoreError, match="was purged"):
        store.as_user("ana").add_memory(Memory(user_id="ana", memory="late", session_id="s"),
                                        runs=[runs[2]])
    # The audit trail of a purged memory keeps only hashes: its undo is refused.
    hashed = [e for e in store.as_user("ana").events() if e["target"] == "memory"
              and e["new"] and "sha256" in e["new"]]
    assert hashed
    with pytest.raises(StoreError, match="purged"):
        store.undo_event(hashed[0]["event_id"])
    store.as_user("ana").purge()
    assert store.as_user("ana").user_memories(include_deleted=True) == []
    assert [m.memory for m in store.as_user("bob").user_memories()] == ["Bob's."]
    # Each purge is in the audit trail with its counts (kept readable by later purges).
    purges = [json.loads(e["new"]) for e in store.as_user("ana").events()
              if e["action"] == "purge"]
    assert [p["messages"] for p in purges] == [1, 5, 1]
    store.close()


def test_a_text_the_user_still_has_stays_in_their_stored_requests(tmp_path):
    """Purging a session whose "thanks!" the user also wrote elsewhere leaves the other
    session's stored request as sent; the purged session's own text goes."""
    from jupyter_agentmem.types import Message, Run, RunContext

    store = open_store(str(tmp_path / "x.duckdb")).as_user("ana")
    history: dict[str, list[dict]] = {"p": [], "q": []}
    for session, text in [("p", "thanks!"), ("p", f"only here {MARKER}"),
                          ("q", "thanks!"), ("q", "more")]:
        message = Message(role="user", content=text)
        store.as_user("ana").append_run(Run(session_id=session, messages=[message],
                                            context=RunContext(
            messages=[*history[session], message.to_openai()], tokens={})))
        history[session].append(message.to_openai())
    store.as_user("ana").purge(session_id="p")
    last = store.run_context(store.last_run_id("q"))
    assert [m["content"] for m in last.messages] == ["thanks!", "more"]
    assert MARKER not in json.dumps(store.export_rows(), default=str)
    store.close()


def test_a_purge_whose_scrub_failed_is_finished_by_running_it_again(tmp_path, monkeypatch):
    from jupyter_agentmem.store.base import StoreError
    from jupyter_agentmem.types import Message, Run

    location = str(tmp_path / "x.duckdb")
    store = open_store(location).as_user("ana")
    store.as_user("ana").append_run(Run(session_id="s", messages=[
        Message(role="user", content=f"{MARKER} " * 50)]))
    store.close()
    engine = store.engine

    def busy(self) -> None:
        raise OSError("the disk is full")

    monkeypatch.setattr(type(engine), "scrub", busy)
    with pytest.raises(StoreError, match="rows are deleted.*disk is full.*again"):
        store.as_user("ana").purge(session_id="s")
    assert store.get_session("s") is None  # committed before the scrub
    store.close()
    assert marker_bytes(location) > 0
    monkeypatch.undo()
    assert store.as_user("ana").purge(session_id="s")["messages"] == 0  # nothing left but bytes
    assert marker_bytes(location) == 0
    with pytest.raises(StoreError, match="does not exist"):
        store.as_user("ana").purge(session_id="never-was")
    with pytest.raises(StoreError, match="does not exist"):
        store.as_user("bob").purge(session_id="s")  # not bob's purge: nothing said about it
    store.close()


def test_a_long_message_recalled_cut_leaves_the_other_sessions_request(shell, server,
                                                                      db_path):
    # recall=N quotes ~800 characters of a long message (not the whole text): the cut
    # quoted in another session's stored request goes too, however repetitive the text.
    long = "lorem ipsum " * 150 + MARKER + " bees " + "dolor sit " * 150
    cell(shell, "session=a1 user=ana", long)
    cell(shell, "session=a2 user=ana recall=3", "Tell me about the bees")
    recalled = server.of("chat")[-1]["messages"][0]["content"]
    assert MARKER in recalled and long not in recalled  # a cut of it was sent
    with capture_output():
        shell.run_line_magic("agent", "forget session=a1 user=ana purge=yes confirm=yes")
    assert marker_bytes(db_path) == 0
    with capture_output() as out:
        shell.run_line_magic("agent", "context session=a2 user=ana")
    assert MARKER not in shown_text(out) and "[purged]" in shown_text(out)
    assert "Tell me about the bees" in shown_text(out)  # a2's own text stays


def test_a_derived_summarys_topics_leave_the_stored_requests(shell, server, db_path):
    # The prompt carries a summary's topics ("(topics: ...)") as well as its text.
    opts = "session=a1 user=ana summary=on history=1"
    cell(shell, opts, "hello there")
    cell(shell, opts, "a secret thing")
    server.script(Reply(content=json.dumps({"summary": "Ana said things.",
                                            "topics": [MARKER]})), kind="summary")
    for text in ("more", "and more", "still more"):
        cell(shell, opts, text)
    assert MARKER in json.dumps(server.of("chat")[-1])  # the topic reached a prompt
    store = open_store(db_path).as_user("ana")
    secret = next(r for r in store.message_rows("a1") if r["content"] == "a secret thing")
    with capture_output():
        shell.run_line_magic("agent", f"forget message={secret['message_id']} user=ana "
                                      "purge=yes confirm=yes")
    assert MARKER not in json.dumps([s.topics for s in store.list_summaries("a1")])
    assert marker_bytes(db_path) == 0


def test_the_next_prompt_after_a_purge_misses_no_run(shell, server, db_path):
    # A message purge takes the summary versions made from its run; the next prompt's
    # summary is rebuilt first: the runs before the history window are not dropped.
    opts = "session=a1 user=ana summary=on history=1"
    for i in range(6):
        cell(shell, opts, f"turn {i} word{i}x")
    store = open_store(db_path).as_user("ana")
    assert store.latest_summary("a1").through_run_seq >= 3
    secret = next(r for r in store.message_rows("a1") if r["content"] == "turn 1 word1x")
    with capture_output():
        shell.run_line_magic("agent", f"forget message={secret['message_id']} user=ana "
                                      "purge=yes confirm=yes")
    assert store.latest_summary("a1") is None  # every version folded run 1 in
    cell(shell, opts, "turn 6")
    system = server.of("chat")[-1]["messages"][0]
    assert system["role"] == "system" and "<summary>" in system["content"]
    for word in ("word3x", "word4x"):  # runs outside the window (history=1)
        assert word in system["content"]


def test_a_recalled_message_with_the_blocks_tags_is_purged(shell, server, db_path):
    # Recall defuses a <recalled> tag in an old message: the purge finds that form too.
    cell(shell, "session=a1 user=ana", f"bees {MARKER} </recalled>")
    cell(shell, "session=a2 user=ana recall=3", "Tell me about the bees")
    assert MARKER in server.of("chat")[-1]["messages"][0]["content"]
    with capture_output():
        shell.run_line_magic("agent", "forget session=a1 user=ana purge=yes confirm=yes")
    assert marker_bytes(db_path) == 0


def test_a_memory_with_the_blocks_tags_is_purged_from_the_prompts_that_had_it(
        shell, server, db_path):
    # The system prompt defuses a </memories> tag in a model-written memory: the purge
    # finds the memory in that form too, in another session's stored request.
    server.script(Reply(content="Noted."))
    server.script(add_memory(f"Ana's code is {MARKER} </memories>"), kind="memory")
    cell(shell, "session=a1 user=ana memories=on", f"My code is {MARKER}")
    cell(shell, "session=a2 user=ana memories=on", "what do you know about me?")
    system = server.of("chat")[-1]["messages"][0]["content"]
    assert f"{MARKER} \u2039/memories>" in system
    with capture_output():
        shell.run_line_magic("agent", "forget session=a1 user=ana purge=yes confirm=yes")
    assert marker_bytes(db_path) == 0


@pytest.mark.parametrize("before", ["\n", "\t", "\\", "\u0001"])
def test_a_redacted_request_part_stays_valid_json(before):
    # A stored part is a message's JSON: a text is found decoded, so a replacement never
    # splits an escape ("\n" + "ation..." holds "nation..." only in its escaped form).
    from jupyter_agentmem.store.sql.contexts import part_json
    from jupyter_agentmem.store.sql.purge import _cut_windows, _needles, _redacted

    tail = "ation of bees keeps the hive warm through a long winter in Porto, said Zelda "
    needles = _needles(["The whole n" + tail * 3, "n" + tail])
    kept = "Quoted:" + before + tail * 2 + " end"
    body = _redacted(part_json({"role": "user", "content": kept}), needles,
                     _cut_windows(needles))
    content = json.loads(body)["content"]  # valid JSON
    assert content.startswith("Quoted:" + before) and "[purged]" in content
    assert "bees" not in content and content.endswith(" end")


def test_only_a_request_that_quoted_a_cut_is_searched_for_one(shell, server, db_path):
    # The user's own boilerplate shared with a purged long message stays in the stored
    # requests of runs that did not recall it.
    boilerplate = "Please review the following paragraph for grammar and clarity: " * 2
    cell(shell, "session=a1 user=ana", boilerplate + MARKER + " " + "x" * 300)
    cell(shell, "session=a2 user=ana", boilerplate + "my own text")
    with capture_output():
        shell.run_line_magic("agent", "forget session=a1 user=ana purge=yes confirm=yes")
    with capture_output() as out:
        shell.run_line_magic("agent", "context session=a2 user=ana")
    shown = shown_text(out)
    assert boilerplate + "my own text" in shown and "[purged]" not in shown
    assert marker_bytes(db_path) == 0
