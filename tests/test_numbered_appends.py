"""A turn's commit does no search index work where runs are numbered as they are appended
(DuckDB: ``runs.search_seq``, sql/term_index.py), and the index stays right: in this
process, in another one, after a restart or a crash, after edits, deletes, exports and
imports; elsewhere (SQLite, PostgreSQL) every text keeps its index row."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import duckdb
import pytest
from index_runs import add_run, ranked_exchanges

from jupyter_agentmem import runtime
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.store.sql import search_index
from jupyter_agentmem.store.sql.deferred import _by_commit
from jupyter_agentmem.types import Run


def index_state(store, run: Run) -> tuple[int, int | None, int]:
    """(index rows of the run's messages, the run's number, the user's revision)."""
    with store.engine.connection() as con:
        (rows,) = con.execute("SELECT count(*) FROM search_docs WHERE run_id = ?",
                              [run.run_id]).fetchone()
        (number,) = con.execute("SELECT search_seq FROM runs WHERE run_id = ?",
                                [run.run_id]).fetchone()
        found = con.execute("SELECT rev FROM search_revs WHERE user_id = 'ana'").fetchone()
    return rows, number, found[0] if found else 0


def test_a_turn_writes_no_index_rows_where_runs_are_numbered(any_store_location):
    store = open_store(any_store_location)
    first = add_run(store, "s", "the first kite", "flies high")
    assert ranked_exchanges(store, "kite") == [first.run_id]  # the index is loaded
    rows_before, _, rev_before = index_state(store, first)
    second = add_run(store, "s", "a second kite", "flies low")
    rows, number, rev = index_state(store, second)
    if any_store_location.endswith(".duckdb"):
        assert (rows, rev) == (0, rev_before) and rows_before == 0  # nothing written
        assert number > index_state(store, first)[1]  # numbered in order
    else:
        assert rows == 2 and number is None and rev == rev_before + 1
    # Learned in this process, found by a restart (its snapshot or a build) too.
    assert set(ranked_exchanges(store, "kite")) == {first.run_id, second.run_id}
    store.engine.search_indexes = None
    assert set(ranked_exchanges(store, "kite")) == {first.run_id, second.run_id}
    assert [h["id"] for h in store.as_user("ana").search("low")] == [
        second.messages[1].message_id]


def test_a_committed_run_is_learned_without_reading_it_back(db_path, monkeypatch):
    store = open_store(db_path)
    add_run(store, "s", "an early kite")
    assert ranked_exchanges(store, "kite")
    read_back = []
    monkeypatch.setattr(search_index.SearchIndexes, "_catch_up_appends",
                        lambda self, con, index, part: read_back.append(part))
    late = add_run(store, "s", "a late kite")
    assert late.run_id in ranked_exchanges(store, "kite")
    assert read_back == []  # the commit gave the run's texts to the index


def test_runs_committed_together_are_learned_together():
    # Two numbered runs of one user in one COMMIT reach the index as one write (it takes
    # a commit's runs all or none); runs with revisions chain by them, one at a time.
    stamp = (1, 7)
    learned = [("ana", None, ["d1"], stamp, 4), ("bob", None, ["d2"], stamp, 5),
               ("ana", None, ["d3"], stamp, 6), ("ana", 3, ["d4"], (1, 8), None),
               ("ana", 4, ["d5"], (1, 8), None)]
    assert _by_commit(learned) == [("ana", None, ["d1", "d3"], stamp, 6),
                                   ("bob", None, ["d2"], stamp, 5),
                                   ("ana", 3, ["d4"], (1, 8), None),
                                   ("ana", 4, ["d5"], (1, 8), None)]


WRITER = textwrap.dedent("""
    import os, signal, sys
    from jupyter_agentmem.store import open_store
    from jupyter_agentmem.types import Message, Run
    store = open_store(sys.argv[1]).as_user("ana")
    action = sys.argv[2]
    if action == "edit":
        store.edit_message(sys.argv[3], sys.argv[4])
    elif action == "delete":
        store.delete_message(sys.argv[3])
    else:
        run = Run(session_id="other", messages=[Message(role="user", content=sys.argv[3]),
                                                Message(role="assistant", content="noted")])
        store.append_run(run)
        print(run.run_id, flush=True)
        if action == "crash":
            os.kill(os.getpid(), signal.SIGKILL)  # committed, never closed
    store.close()
""")


def other_process(path: str, *args: str, crash: bool = False) -> str:
    done = subprocess.run([sys.executable, "-c", WRITER, path, *args], capture_output=True,
                          text=True)
    assert done.returncode == (-signal.SIGKILL if crash else 0), done.stderr
    return done.stdout.strip()


def test_another_processs_edits_and_deletes_of_numbered_messages_are_found(db_path):
    store = open_store(db_path)
    kept = add_run(store, "s", "a blue kite", "a red balloon")
    assert [h["id"] for h in store.as_user("ana").search("balloon")] == [
        kept.messages[1].message_id]
    store.close()  # one DuckDB writer at a time: the other process takes the file
    other_process(db_path, "edit", kept.messages[1].message_id, "a green zeppelin")
    assert store.as_user("ana").search("balloon") == []
    assert [h["id"] for h in store.as_user("ana").search("zeppelin")] == [
        kept.messages[1].message_id]
    assert ranked_exchanges(store, "zeppelin") == [kept.run_id]
    store.close()
    other_process(db_path, "delete", kept.messages[0].message_id)
    assert store.as_user("ana").search("blue kite") == []
    assert ranked_exchanges(store, "zeppelin") == [kept.run_id]  # its reply is still there


def test_a_run_committed_before_a_crash_is_found_and_its_number_never_reused(db_path):
    store = open_store(db_path)
    add_run(store, "s", "before the crash")
    assert ranked_exchanges(store, "crash")
    store.close()
    crashed = other_process(db_path, "crash", "the zeppelin survived", crash=True)
    runtime.reset()  # a new process: nothing kept in memory
    again = open_store(db_path)
    assert ranked_exchanges(again, "zeppelin") == [crashed]
    after = add_run(again, "s", "after the crash, another zeppelin")
    with again.engine.connection() as con:
        numbers = dict(con.execute("SELECT run_id, search_seq FROM runs").fetchall())
    assert numbers[after.run_id] > numbers[crashed] > 0
    assert set(ranked_exchanges(again, "zeppelin")) == {crashed, after.run_id}


def test_a_database_from_before_numbering_keeps_its_rows_and_numbers_new_runs(tmp_path):
    from jupyter_agentmem.store.duckdb.dialect import DUCKDB
    from jupyter_agentmem.store.sql import migrations

    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    migrations.migrate(con, DUCKDB, upto=10)  # the last migration before numbering
    con.execute("INSERT INTO sessions (session_id, user_id, created_at, updated_at) "
                "VALUES ('s', 'ana', now(), now())")
    con.execute("INSERT INTO runs (run_id, session_id, seq, status, created_at, user_id) "
                "VALUES ('r-old', 's', 0, 'ok', now(), 'ana')")
    con.execute("INSERT INTO messages (message_id, session_id, run_id, seq, role, content, "
                "created_at) VALUES ('m-old', 's', 'r-old', 0, 'user', 'an old kite', now())")
    con.execute("INSERT INTO search_revs VALUES ('ana', 1, 5)")
    con.execute("INSERT INTO search_docs (doc_id, kind, session_id, user_id, run_id, role, "
                "length, deleted, rev) VALUES ('m-old', 'messages', 's', 'ana', 'r-old', "
                "'user', 0, false, 1)")
    con.close()
    store = open_store(path)  # migrated: the old run unnumbered, with its row
    new = add_run(store, "s", "a new kite")
    with store.engine.connection() as con:
        assert con.execute("SELECT run_id, search_seq IS NULL FROM runs ORDER BY seq"
                           ).fetchall() == [("r-old", True), (new.run_id, False)]
    assert set(ranked_exchanges(store, "kite")) == {"r-old", new.run_id}
    store.engine.search_indexes = None
    assert set(ranked_exchanges(store, "kite")) == {"r-old", new.run_id}


def test_the_number_is_the_databases_own_never_exported_nor_imported(tmp_path):
    source = open_store(str(tmp_path / "a.duckdb")).as_user("ana")
    run = add_run(source, "s", "a kite to carry over")
    exported = source.export_rows()
    assert exported["runs"] and all("search_seq" not in r for r in exported["runs"])
    target = open_store(str(tmp_path / "b.duckdb")).as_user("ana")
    target.import_rows(exported)
    assert ranked_exchanges(target, "carry") == [run.run_id]
    with target.engine.connection() as con:  # indexed by its rows, as every import
        assert con.execute("SELECT search_seq FROM runs").fetchall() == [(None,)]
    planted = {**exported, "runs": [{**exported["runs"][0], "run_id": "r2",
                                     "seq": 5, "search_seq": 10**12}]}
    with pytest.raises(StoreError, match="unknown column.*search_seq"):
        target.import_rows(planted)
    add_run(target, "s2", "a later kite")  # numbering unharmed by the refused row
    assert len(ranked_exchanges(target, "kite")) == 2


def test_a_user_with_only_numbered_runs_gets_a_revision_before_a_build(db_path, monkeypatch):
    # Without it, the user's first memory would make their revision row, with a new
    # epoch, and drop (and rebuild) everything built and snapshotted before it.
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 5)
    store = open_store(db_path)
    for i in range(6):
        add_run(store, "s", f"kite number {i}")
    assert len(ranked_exchanges(store, "kite")) == 6
    with store.engine.connection() as con:
        assert con.execute("SELECT count(*) FROM search_revs WHERE user_id = 'ana'"
                           ).fetchone() == (1,)
    from jupyter_agentmem.types import Memory

    store.as_user("ana").add_memory(Memory(user_id="ana", memory="likes kites", topics=[]))
    monkeypatch.setattr(search_index.SearchIndexes, "_build", lambda *a: pytest.fail(
        "rebuilt from SQL"))
    assert len(ranked_exchanges(store, "kite")) == 6
    store.engine.search_indexes = None  # a restart: the snapshot still holds
    assert len(ranked_exchanges(store, "kite")) == 6
    assert os.path.isdir(db_path + ".search")


def test_a_purge_and_its_scrub_never_give_a_number_again(db_path):
    # The purge deletes the runs with the last numbers and copies the file into a fresh
    # one (DuckDbEngine.scrub): the sequence goes with it, so a later run is numbered
    # after them, and another process's copy that has them misses no run.
    store = open_store(db_path)
    add_run(store, "kept", "a kept kite")
    gone = add_run(store, "gone", "a purged kite")
    with store.engine.connection() as con:
        (last,) = con.execute("SELECT search_seq FROM runs WHERE run_id = ?",
                              [gone.run_id]).fetchone()
    assert len(ranked_exchanges(store, "kite")) == 2
    store.as_user("ana").purge(session_id="gone")
    runtime.reset()  # a new process, on the scrubbed file
    again = open_store(db_path)
    later = add_run(again, "kept", "a later kite")
    with again.engine.connection() as con:
        (number,) = con.execute("SELECT search_seq FROM runs WHERE run_id = ?",
                                [later.run_id]).fetchone()
    assert number > last
    assert later.run_id in ranked_exchanges(again, "kite") and gone.run_id not in ranked_exchanges(
        again, "kite")


def test_a_summary_is_learned_without_reading_it_back(any_store_location, monkeypatch):
    from jupyter_agentmem.types import SessionSummary

    store = open_store(any_store_location)
    run = add_run(store, "s", "a kite over the dunes")
    acting = store.as_user("ana")
    assert ranked_exchanges(store, "kite") == [run.run_id]
    assert acting.search_ids("dunes", "summaries", 5) == []
    read_back = []
    for name in ("_catch_up", "_catch_up_appends"):
        monkeypatch.setattr(search_index.SearchIndexes, name,
                            lambda self, *a, name=name: read_back.append(name))
    acting.add_summary(SessionSummary(session_id="s", summary="kites over the dunes"))
    assert [d for d, _ in acting.search_ids("dunes", "summaries", 5)] == ["s#1"]
    assert ranked_exchanges(store, "kite") == [run.run_id]
    assert read_back == []  # the COMMIT gave the summary to every loaded partition


def hold_index_lock(store):
    """Another thread holds the search index's lock (as a search on the side reader
    does) until the returned event is set; its thread."""
    import threading

    held, done = threading.Event(), threading.Event()

    def holder():
        with store.search_index()._lock:
            held.set()
            done.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(10)
    return done, thread


def test_a_summary_committed_while_a_search_runs_is_learned_once_it_ends(db_path,
                                                                         monkeypatch):
    import threading

    from jupyter_agentmem.types import SessionSummary

    store = open_store(db_path)
    add_run(store, "s", "a kite over the dunes")
    acting = store.as_user("ana")
    assert acting.search_ids("dunes", "summaries", 5) == []
    done, holder = hold_index_lock(store)
    threading.Timer(0.2, done.set).start()  # the search ends while the summary waits
    acting.add_summary(SessionSummary(session_id="s", summary="kites over the dunes"))
    holder.join()
    read_back = []
    for name in ("_catch_up", "_catch_up_appends"):
        monkeypatch.setattr(search_index.SearchIndexes, name,
                            lambda self, *a, name=name: read_back.append(name))
    assert [d for d, _ in acting.search_ids("dunes", "summaries", 5)] == ["s#1"]
    assert read_back == []  # learned, not skipped (it was: the next search read it back)


def test_a_writer_holding_the_connection_never_waits_for_the_index(db_path):
    # A search beside it may hold the index's lock while it wants the connection (to
    # save a snapshot): waiting, each would wait for the other. It leaves the index
    # behind instead, and the next search reads the summary from SQL.
    from jupyter_agentmem.types import SessionSummary

    store = open_store(db_path)
    add_run(store, "s", "a kite over the dunes")
    acting = store.as_user("ana")
    assert acting.search_ids("dunes", "summaries", 5) == []
    done, holder = hold_index_lock(store)
    with store.engine.connection():
        acting.add_summary(SessionSummary(session_id="s", summary="kites over the dunes"))
        returned = not done.is_set()  # it came back while the lock was still held
    done.set()
    holder.join()
    assert returned
    assert [d for d, _ in acting.search_ids("dunes", "summaries", 5)] == ["s#1"]
