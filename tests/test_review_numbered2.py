"""Second hostile review of the numbered appends, after the fixes of 8096951
(tests/test_review_numbered.py): snapshots queued and stored once the index lock is let
go, the user's revision row made before the lock, a snapshot's seq checked.

Each test's comment names the hole it showed (and on which backends it failed, before
the fixes of the commit that adds this file).
"""

from __future__ import annotations

import threading

from index_runs import add_memory, add_run, exchanges, memories

from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.sql import search_index
from jupyter_agentmem.types import Memory, Run


class Rollback(Exception):
    pass


# --- 1. a queued snapshot takes its rev / seq when it is stored, not when queued ------

def test_a_memory_learned_while_a_compaction_is_stored_is_not_lost(any_store_location,
                                                                    monkeypatch):
    # _compact_if_due (under the index lock, from wrote) freezes the partition's base and queues
    # it (_save); the writer stores it after letting the lock go (_flush_saves ->
    # _save_now), reading partition.rev / partition.seq THEN. A write learned in between
    # (another thread's wrote: the lock is free) upserts into the fresh partition (not
    # its base) and bumps its rev: the snapshot says rev R+1 without that text. The next
    # process loads it as current and never catches it up. Every backend.
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(any_store_location)
    for i in range(10):
        add_memory(store, f"likes kite number {i}")
    assert len(memories(store, "kite")) == 10  # built (base: 10) and stored
    add_memory(store, "likes a red kite")  # extra 1 of 2 (a fifth of 10)
    original = search_index.SearchIndexes._save_now
    armed = [True]
    late: list[Memory] = []

    def save(self, base, meta):
        if armed[0] and meta["part"] == "memories":
            armed[0] = False  # another thread's memory, learned before this one is stored
            other = threading.Thread(
                target=lambda: late.append(add_memory(store, "likes a zeppelin kite")))
            other.start()
            other.join(60)
        return original(self, base, meta)

    monkeypatch.setattr(search_index.SearchIndexes, "_save_now", save)
    add_memory(store, "likes a blue kite")  # extra 2: compacted, queued, stored
    assert late and not armed[0]
    assert memories(store, "zeppelin") == {late[0].memory_id}  # this process: held
    store.engine.search_indexes = None  # the next process: from the snapshot
    assert memories(store, "zeppelin") == {late[0].memory_id}


def test_a_run_learned_while_a_built_partition_is_stored_is_not_lost(db_path, monkeypatch):
    # DuckDB: a search on the side reader builds messages and exchanges (two saves
    # queued) and stores them after the lock; the first save waits for the connection
    # (the engine's thread committing a turn) or writes a big file (seconds at 1M). A
    # run committed meanwhile is learned into the exchanges partition (seq N) before its
    # save reads partition.seq: the snapshot says seq N without run N, and the next
    # process's catch-up (search_seq > N) never reads it.
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    for i in range(10):  # a base of 11 runs: one more is no compaction
        add_run(store, "s", f"a balloon number {i}")
    original = search_index.SearchIndexes._save_now
    armed = [True]
    late: list[Run] = []

    def save(self, base, meta):
        if armed[0]:
            armed[0] = False
            other = threading.Thread(
                target=lambda: late.append(add_run(store, "s", "a kite at noon")))
            other.start()
            other.join(60)
        return original(self, base, meta)

    monkeypatch.setattr(search_index.SearchIndexes, "_save_now", save)
    assert r1.run_id in exchanges(store, "kite")  # built; the noon run learned meanwhile
    assert late and not armed[0]
    assert exchanges(store, "kite") == {r1.run_id, late[0].run_id}
    store.engine.search_indexes = None  # the next process: from the snapshot
    assert exchanges(store, "kite") == {r1.run_id, late[0].run_id}


# --- 2. a side read under the index lock that reopens the file ----------------------

def test_a_side_read_that_reopens_the_file_under_the_index_lock_does_not_stall(
        db_path, monkeypatch):
    # DuckDB: a search on the side reader (reading(): another thread holds the mutex)
    # catches up under the index lock; a statement that finds the connection let go
    # (_side_read: self._conn None, e.g. while the holder is still opening the file
    # after an idle hand-over) takes "the usual way", engine.connection(): the mutex,
    # under the index lock. The holder then searches (search(), delete_session, purge,
    # build_search_index: index lock under the mutex): each waits for the other until
    # the side reader's lock timeout; its search fails. The lock order the docs state
    # ("never held while the engine's connection is taken") does not hold here.
    store = open_store(db_path)
    engine = store.engine
    r1 = add_run(store, "s", "a kite at dawn")
    add_run(store, "sb", "bob's kite", user="bob")
    assert exchanges(store, "kite") == {r1.run_id}  # ana's partitions, current
    assert exchanges(store, "kite", "bob")
    add_memory(store, "bob likes kites", user="bob")  # a commit: ana's are not current
    engine.close()  # handed over (idle): the next use reopens
    engine.lock_timeout_s = 3.0
    opening, reader_waits = threading.Event(), threading.Event()
    original_connect = engine._connect
    original_connection = engine.connection

    def connect():
        if threading.current_thread().name == "holder":
            opening.set()
            reader_waits.wait(10)  # the reader asks for the mutex while it is opened
        return original_connect()

    def connection():
        if threading.current_thread().name == "reader":
            reader_waits.set()
        return original_connection()

    monkeypatch.setattr(engine, "_connect", connect)
    monkeypatch.setattr(engine, "connection", connection)
    errors: list[BaseException] = []
    found: list[set[str]] = []

    def hold() -> None:
        try:
            with engine.connection():
                store.as_user("bob").search("kite")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def read() -> None:
        opening.wait(10)
        try:
            found.append(exchanges(store, "kite"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    holder = threading.Thread(target=hold, name="holder", daemon=True)
    reader = threading.Thread(target=read, name="reader", daemon=True)
    holder.start()
    reader.start()
    holder.join(60)
    reader.join(60)
    assert not errors, errors
    assert found == [{r1.run_id}]


# --- 3. a partition built (and stored) inside a caller's transaction ----------------

def test_a_first_search_in_a_rolled_back_transaction_leaves_no_stale_partition(
        any_store_location):
    # A search inside a caller's transaction that wrote a text: the partition is not
    # loaded yet, so it is built there (_current: only a LOADED one is "used as it is"),
    # from the uncommitted text, at the uncommitted revision R. Rolled back, the next
    # text of the user gets revision R again: wrote() finds the partition not at R-1,
    # the next search finds it at R: never caught up. SQLite and PostgreSQL (revisions);
    # DuckDB passes (its numbers are not handed out again).
    store = open_store(any_store_location)
    add_run(store, "s", "a kite at dawn")
    add_memory(store, "likes kites")  # the user's revision row exists
    try:
        with store.engine.transaction():
            add_run(store, "s", "a ghostly kite")
            assert len(exchanges(store, "kite")) == 2
            raise Rollback
    except Rollback:
        pass
    r2 = add_run(store, "s", "a kite at noon")
    assert r2.run_id in exchanges(store, "kite")


def test_a_snapshot_stored_inside_a_rolled_back_transaction_is_not_trusted(
        any_store_location, monkeypatch):
    # The same build queues its snapshot, and partition() stores it on the way out
    # (_flush_saves) while the thread is still inside the caller's transaction:
    # _save_now's transaction joins it, reads the uncommitted revision, and writes the
    # snapshot FILE (SQLite: not transactional) of the uncommitted text at revision R.
    # Rolled back, the next commit makes R again: the next process loads the snapshot
    # as current, without that commit's text. SQLite (PostgreSQL's rows roll back with
    # the caller; DuckDB's numbers are not handed out again).
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 1)
    store = open_store(any_store_location)
    r1 = add_run(store, "s", "a kite at dawn")
    add_memory(store, "likes kites")
    try:
        with store.engine.transaction():
            add_run(store, "s", "a ghostly kite")
            assert len(exchanges(store, "kite")) == 2  # built and stored here
            raise Rollback
    except Rollback:
        pass
    store.engine.search_indexes = None  # this process's copy aside: the snapshot only
    r2 = add_run(store, "s", "a kite at noon")
    assert exchanges(store, "kite") >= {r1.run_id, r2.run_id}


# --- 4. the user's revision row after a rolled-back first search --------------------

def test_a_revision_row_rolled_back_with_a_first_search_is_made_again(db_path, monkeypatch):
    # partition() makes the user's revision row only when the user is not in _users
    # (8096951; before, whenever the row was missing). A first search inside a caller's
    # transaction makes it in that transaction; rolled back, the row is gone but the
    # user is in _users: it is never made again in this process. Their partitions are
    # built under epoch 0, never stored (_save_now: no row), and the first memory makes
    # the row with a new epoch and drops them (a rebuild: 20-40 s at 1M messages).
    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    try:
        with store.engine.transaction():
            assert exchanges(store, "kite") == {r1.run_id}
            raise Rollback
    except Rollback:
        pass
    assert exchanges(store, "kite") == {r1.run_id}
    with store.engine.connection() as con:
        assert con.execute("SELECT count(*) FROM search_revs WHERE user_id = 'ana'"
                           ).fetchone() == (1,)
    builds: list[str] = []
    original = search_index.SearchIndexes._build

    def build(self, con, user_id, part, rev):
        builds.append(part)
        return original(self, con, user_id, part, rev)

    monkeypatch.setattr(search_index.SearchIndexes, "_build", build)
    add_memory(store, "likes kites")  # makes the row: a new epoch
    r2 = add_run(store, "s", "a kite at noon")
    store.engine.close()  # handed over (idle) and opened again: read at the next search
    with store.engine.connection():
        pass
    assert exchanges(store, "kite") == {r1.run_id, r2.run_id}
    assert "exchanges" not in builds  # not built again from every text


# --- 6. a search on the side reader while the file is let go --------------------------

def test_a_search_after_a_handover_sees_another_processes_run(db_path):
    # DuckDB: the index stamp is the engine's generation (bumped when the file is opened)
    # and this process's commits. A search_ids (recall, memories: on the side reader)
    # while the file is let go (handed over after 1 s idle) reads the stamp before any
    # statement reopens it: the same generation as before the hand-over, so the loaded
    # partition is "current" and nothing is read (nothing reopens the file either):
    # another process's turns written meanwhile are missed, search after search, until
    # something else opens the file. (cache_stamp returns None while the file is not
    # held, for this reason.)
    import subprocess
    import sys
    import textwrap

    store = open_store(db_path)
    r1 = add_run(store, "s", "a kite at dawn")
    assert exchanges(store, "kite") == {r1.run_id}
    store.engine.close()  # handed over
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
    assert exchanges(store, "kite") == {r1.run_id, other}
