"""Hostile review of the numbered appends (i16-upkeep, 61253dc..i16-upkeep): DuckDB runs
found by ``runs.search_seq``, this process's commits given to the index by ``wrote``.

Each test's comment names the hole it found (each failed before its fix, in the commit
that adds this file), or says it is a regression check of what held.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

from index_runs import a_run, add_run, exchanges, message_hits, number_of
from turn_files import dead_writer, line_of, turn_file

from jupyter_agentmem import runtime
from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.sql import search_index
from jupyter_agentmem.store.sql.staged import run_entry
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary

# --- 1. a memory (or summary) marks the message partitions current --------------------

def test_another_users_commit_then_a_memory_never_loses_a_numbered_run(db_path):
    # ana's run r2 commits right after bob's: its wrote() finds ana's partitions not
    # current just before (bob's COMMIT came between) and leaves them behind, to be
    # read back at the next search. Then ana's memory is learned by REVISION
    # (search_index.py _learn: `partition.rev != rev - 1`): the exchanges and messages
    # partitions, at the revision before, are marked current at the new stamp although
    # they lack r2 (a numbered run bumps no revision). Her next run's wrote() then
    # moves partition.seq past r2: it is never caught up.
    store = open_store(db_path)
    r1 = add_run(store, "sa", "a kite at dawn")
    add_run(store, "sb", "bob flies a kite", user="bob")
    assert exchanges(store, "kite", "bob")
    assert exchanges(store, "kite") == {r1.run_id}  # ana's partitions loaded, current
    add_run(store, "sb", "bob again", user="bob")  # a commit of this process between
    r2 = add_run(store, "sa", "a kite at noon")
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="likes kites"))
    assert exchanges(store, "kite") == {r1.run_id, r2.run_id}
    r3 = add_run(store, "sa", "a kite at dusk")
    assert exchanges(store, "kite") == {r1.run_id, r2.run_id, r3.run_id}
    assert {r2.messages[0].message_id} <= message_hits(store, "noon")


def test_a_run_committed_in_a_callers_transaction_then_a_summary_is_still_found(db_path):
    # The same hole through a caller's transaction (no wrote() for the nested append)
    # and a summary (learned by revision).
    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite") == {r1.run_id}
    with store.engine.transaction():
        r2 = add_run(store, "s", "a kite at noon")
    store.as_user("ana").add_summary(SessionSummary(session_id="s", summary="kites"))
    assert exchanges(store, "kite") == {r1.run_id, r2.run_id}
    r3 = add_run(store, "s", "a kite at dusk")
    assert exchanges(store, "kite") == {r1.run_id, r2.run_id, r3.run_id}


def test_runs_of_another_process_then_a_memory_are_still_found(db_path):
    # Cross-process form: another kernel appends numbered runs (no revision bump); back
    # in this process, a memory marks the partitions current at the new generation, so
    # the other kernel's turns are not caught up; this process's next turn moves
    # partition.seq past them for good.
    import subprocess
    import sys
    import textwrap

    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite") == {r1.run_id}
    store.close()
    code = textwrap.dedent("""
        import sys
        from jupyter_agentmem.store import open_store
        from jupyter_agentmem.types import Message, Run
        store = open_store(sys.argv[1]).as_user("ana")
        run = Run(session_id="other", messages=[Message(role="user", content="a kite elsewhere"),
                                                Message(role="assistant", content="noted")])
        store.append_run(run)
        print(run.run_id, flush=True)
        store.close()
    """)
    done = subprocess.run([sys.executable, "-c", code, db_path], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    other = done.stdout.strip()
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="likes kites"))
    assert exchanges(store, "kite") == {r1.run_id, other}
    r3 = add_run(store, "s", "a kite at dusk")
    assert exchanges(store, "kite") == {r1.run_id, other, r3.run_id}


# --- 2. a recovered run committed with an append ------------------------------------

def _dead_turn(store, run: Run, finished: bool) -> None:
    data = line_of(run, "ana")
    if finished:
        data += (json.dumps(run_entry(run, "ana")) + "\n").encode()
    turn_file(store, dead_writer(), data)


def test_a_finished_run_recovered_by_an_append_is_found(db_path, monkeypatch):
    # A dead process's finished turn is stored whole by the next append that is not off
    # the run cache, in that append's transaction (staged.recover -> insert_run: it is
    # NUMBERED, n). The append's wrote() gives the index only its own run (n + 1) and
    # sets partition.seq = n + 1 (search_index.py _learn): run n is never read. With a
    # snapshot written since, a restart misses it too.
    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite") == {r1.run_id}
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)  # from here: snapshots
    dead = Run(session_id="s2", model="m", messages=[
        Message(role="user", content="a zeppelin kite"),
        Message(role="assistant", content="finished before the crash")])
    _dead_turn(store, dead, finished=True)
    store.engine.recent_runs.clear()  # the next append is checked in SQL: it recovers
    r2 = add_run(store, "s", "a kite at noon")
    assert number_of(store, dead) is not None  # stored, numbered
    assert exchanges(store, "kite") == {r1.run_id, dead.run_id, r2.run_id}
    r3 = add_run(store, "s", "a kite at dusk")
    assert exchanges(store, "kite") == {r1.run_id, dead.run_id, r2.run_id, r3.run_id}
    store.engine.search_indexes = None  # a restart: from the snapshot
    assert dead.run_id in exchanges(store, "kite")


def test_an_interrupted_run_kept_by_an_append_is_found(db_path):
    # The same commit, an unfinished turn: kept as interrupted with index rows and a
    # revision bump (staged._keep_interrupted). The append's wrote() (rev None) marks the
    # user's index and partitions current at the new stamp with the OLD revision
    # (_learn: `index.checked = stamp`), so the kept message is not found; each later
    # numbered append of hers keeps it so.
    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite") == {r1.run_id}
    assert message_hits(store, "kite") == {r1.messages[0].message_id}
    dead = Run(session_id="s2", model="m",
               messages=[Message(role="user", content="an interrupted zeppelin")])
    _dead_turn(store, dead, finished=False)
    store.engine.recent_runs.clear()
    add_run(store, "s", "a kite at noon")
    assert message_hits(store, "zeppelin") == {dead.messages[0].message_id}
    add_run(store, "s", "a kite at dusk")
    assert message_hits(store, "zeppelin") == {dead.messages[0].message_id}


# --- 3. one deferred batch with runs of two users interleaved ------------------------

def test_a_batch_with_two_users_interleaved_gives_every_run(db_path):
    # The engine's thread commits ana, bob, ana in one COMMIT. _by_commit merges only
    # neighbours, so ana gets two wrote() calls with the same stamp: the first marks
    # her partitions current at it, the second finds them not current "just before"
    # and is dropped. The next search trusts the stamp: ana's second run is missing.
    store = open_store(db_path)
    engine = store.engine
    a0 = add_run(store, "sa", "a kite at dawn")
    add_run(store, "sb", "bob has a kite", user="bob")
    assert exchanges(store, "kite", "bob")
    assert exchanges(store, "kite") == {a0.run_id}
    queued = []
    with engine.mutex:
        for user, session, text in (("ana", "sa", "a kite at noon"),
                                     ("bob", "sb", "bob's kite at noon"),
                                     ("ana", "sa", "a kite at dusk")):
            run = a_run(session, text)
            store.as_user(user).stage_run(run)
            store.as_user(user).append_run(run)
            queued.append(run)
        assert engine.deferred.pending  # all three wait for one commit
        engine.deferred.write_pending()  # as the engine's thread does
    assert exchanges(store, "kite", "bob") >= {queued[1].run_id}
    assert queued[0].run_id in exchanges(store, "kite")
    assert queued[2].run_id in exchanges(store, "kite")  # the one dropped


# --- 4. waiting for the index while it saves a snapshot -----------------------------

def test_a_learned_run_that_compacts_does_not_stall_a_search_holding_the_connection(
        any_store_location, monkeypatch):
    # Writers now call wrote() after letting the connection go, waiting for the index
    # lock (store.py _append, memories.py add_memory / add_summary); _learn may compact
    # and save a snapshot (_save: engine.transaction, the mutex) while holding that
    # lock. A search() holding the connection (jupyter_agentmem.search, %agent search,
    # delete_session, purge) waits for the index lock: each waits for the other (DuckDB:
    # until its lock timeout, the snapshot lost; SQLite and PostgreSQL take the mutex
    # without a timeout: for ever). Here the appender's save gives up after 5 s instead.
    # (Fixed: snapshots are stored once the index lock is let go, ``_save_now``.)
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(any_store_location)
    engine = store.engine
    add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite")  # built (and saved: a commit)
    assert exchanges(store, "kite")  # current at the stamp after it
    saving, holding = threading.Event(), threading.Event()
    original_save = search_index.SearchIndexes._save_now
    outcome: list[str] = []

    def save(self, *args):
        if threading.current_thread().name != "appender":
            return original_save(self, *args)
        if self._lock._is_owned():
            outcome.append("saving under the index lock")
        saving.set()
        holding.wait(10)  # the searcher holds the connection first
        if not engine.mutex.acquire(timeout=5):  # what _save's transaction waits for
            outcome.append("stuck: the searcher holds the connection, waiting for us")
            return None
        try:
            outcome.append("saved")
            return original_save(self, *args)
        finally:
            engine.mutex.release()

    monkeypatch.setattr(search_index.SearchIndexes, "_save_now", save)
    appender = threading.Thread(name="appender", daemon=True,
                                target=lambda: add_run(store, "s", "a late kite"))

    def search() -> None:
        saving.wait(10)
        with engine.connection():
            holding.set()
            store.as_user("ana").search("kite")

    searcher = threading.Thread(target=search, daemon=True)
    appender.start()
    searcher.start()
    appender.join(60)
    searcher.join(60)
    assert outcome and all(o == "saved" for o in outcome)


def test_a_first_search_of_a_user_on_the_side_reader_does_not_stall(db_path, monkeypatch):
    # _make_revision (new) commits under the index lock, from a search on the side
    # reader (no mutex). A thread holding the connection that wants the index lock
    # (search(), delete_session, purge) waits for it; _make_revision times out, its
    # error is swallowed, the user's partitions are built under epoch 0, and the
    # revision row made later (with a new epoch) drops them again.
    store = open_store(db_path)
    engine = store.engine
    add_run(store, "s", "a kite at dawn")
    add_run(store, "sb", "bob's kite", user="bob")
    assert exchanges(store, "kite")  # ana's index (her revision row made)
    engine.lock_timeout_s = 3.0
    making, holding = threading.Event(), threading.Event()
    original = search_index.SearchIndexes._make_revision

    def make(self, user_id):
        making.set()
        holding.wait(10)
        return original(self, user_id)

    monkeypatch.setattr(search_index.SearchIndexes, "_make_revision", make)
    found: list = []
    reader = threading.Thread(target=lambda: found.append(exchanges(store, "kite", "bob")))

    def search() -> None:
        making.wait(10)
        with engine.connection():
            holding.set()
            store.as_user("ana").search("kite")

    other = threading.Thread(target=search)
    reader.start()
    other.start()
    reader.join(60)
    other.join(60)
    assert found and len(found[0]) == 1
    with engine.connection() as con:
        assert con.execute("SELECT count(*) FROM search_revs WHERE user_id = 'bob'"
                           ).fetchone() == (1,)


# --- 5. a snapshot from a later state of the same file -------------------------------

def test_a_snapshot_newer_than_the_database_is_not_trusted(tmp_path, monkeypatch):
    # The file is put back from a copy (a backup) while its .search folder stays. The
    # snapshot's revision is checked against the database's (`meta.rev > rev`:
    # refused), but numbered runs bump no revision and its seq is not checked: it says
    # it has runs up to a number the restored file hands out again, so the new runs
    # with those numbers are never caught up.
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    path = str(tmp_path / "a.duckdb")
    store = open_store(path)
    r1 = add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite") == {r1.run_id}
    store.close()
    shutil.copy(path, str(tmp_path / "backup.duckdb"))
    store = open_store(path)
    for text in ("a kite at noon", "a kite at dusk", "a kite at night"):
        add_run(store, "s", text)
    assert len(exchanges(store, "kite")) == 4
    store.engine.search_indexes = None
    assert len(exchanges(store, "kite")) == 4  # from the snapshot (seq: 4 runs)
    store.close()
    runtime.reset()
    os.replace(str(tmp_path / "backup.duckdb"), path)  # the backup put back
    again = open_store(path)
    r2 = add_run(again, "s", "a restored kite")
    assert exchanges(again, "kite") == {r1.run_id, r2.run_id}


# --- 6. regression checks that pass ------------------------------------------------

def test_a_deleted_session_with_numbered_runs_leaves_every_index_and_snapshot(
        db_path, monkeypatch):
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(db_path)
    kept = add_run(store, "kept", "a kept kite")
    gone = add_run(store, "gone", "a doomed zeppelinkite")
    assert exchanges(store, "zeppelinkite") == {gone.run_id}
    assert message_hits(store, "zeppelinkite") == {gone.messages[0].message_id}
    store.as_user("ana").delete_session("gone")
    assert exchanges(store, "zeppelinkite") == set()
    assert exchanges(store, "kite") == {kept.run_id}
    store.engine.search_indexes = None
    assert exchanges(store, "zeppelinkite") == set()
    for name in os.listdir(db_path + ".search"):
        with open(os.path.join(db_path + ".search", name), "rb") as f:
            data = f.read()
        assert b"zeppelinkit" not in data, name  # its stem in no snapshot


def test_a_purged_numbered_message_leaves_the_snapshots_and_the_file(db_path, monkeypatch):
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(db_path)
    kept = add_run(store, "s", "a kept kite")
    gone = add_run(store, "s", "the secret xylophonist kite")
    assert exchanges(store, "xylophonist") == {gone.run_id}
    store.as_user("ana").purge(message_id=gone.messages[0].message_id)
    assert exchanges(store, "xylophonist") == set()
    assert message_hits(store, "xylophonist") == set()
    assert kept.run_id in exchanges(store, "kite")
    store.close()
    for folder in (db_path + ".search",):
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), "rb") as f:
                assert b"xylophon" not in f.read(), name
    with open(db_path, "rb") as f:
        assert b"xylophonist" not in f.read()
    runtime.reset()
    again = open_store(db_path)
    assert exchanges(again, "xylophonist") == set()
    assert message_hits(again, "xylophonist") == set()


def test_edit_delete_restore_of_a_numbered_message_in_this_process(db_path):
    store = open_store(db_path)
    run = add_run(store, "s", "a blue kite", "a red balloon")
    acting = store.as_user("ana")
    assert message_hits(store, "balloon") == {run.messages[1].message_id}
    acting.edit_message(run.messages[1].message_id, "a green zeppelin")
    assert message_hits(store, "balloon") == set()
    assert exchanges(store, "zeppelin") == {run.run_id}
    acting.delete_message(run.messages[1].message_id)
    assert exchanges(store, "zeppelin") == set()
    assert message_hits(store, "zeppelin") == set()
    later = add_run(store, "s", "another kite")  # a numbered append after the delete
    assert exchanges(store, "zeppelin") == set()
    acting.restore_message(run.messages[1].message_id)
    assert exchanges(store, "zeppelin") == {run.run_id}
    assert exchanges(store, "kite") == {run.run_id, later.run_id}
    store.engine.search_indexes = None
    assert exchanges(store, "zeppelin") == {run.run_id}


def test_two_users_in_one_process_never_see_each_others_numbered_runs(db_path):
    store = open_store(db_path)
    ana = add_run(store, "sa", "ana's private kite")
    bob = add_run(store, "sb", "bob's private kite", user="bob")
    assert exchanges(store, "kite") == {ana.run_id}
    assert exchanges(store, "kite", "bob") == {bob.run_id}
    a2 = add_run(store, "sa", "ana's second kite")
    b2 = add_run(store, "sb", "bob's second kite", user="bob")
    assert exchanges(store, "kite") == {ana.run_id, a2.run_id}
    assert exchanges(store, "kite", "bob") == {bob.run_id, b2.run_id}
    store.engine.search_indexes = None
    assert exchanges(store, "kite", "bob") == {bob.run_id, b2.run_id}
    assert message_hits(store, "second", "bob") == {b2.messages[0].message_id}
