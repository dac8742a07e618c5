"""The files of turns in flight are hostile input (store/journal.py, store/sql/staged.py).

A damaged file of a dead process is moved aside with a warning and its valid turns are
kept; a FIFO, a symbolic link, another user's file or a symlinked folder is refused
with a warning, never read or followed, never a hang; the store always opens. A purge
of a user removes that user's turns from every file it can read (``drop_user``).
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import threading

import pytest
from turn_files import a_run, dead_writer, line_of, turn_file

from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.files import private_folder
from jupyter_agentmem.store.journal import DAMAGED, TurnsInFlightWarning, file_name, writer_id
from jupyter_agentmem.store.sql.staged import turn_entry


def reopen(store, location):
    """A new process opening the database: the dead processes' turns are looked at."""
    store.close()
    store = open_store(location).as_user("ana")
    store.count_runs("s")
    return store


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def contents(store, session: str = "s") -> list[tuple[str, str]]:
    return [(r.status, r.messages[0].content) for r in store.session_runs(session)]


def aside_files(store) -> list[str]:
    folder = store.engine.journal.folder
    return [os.path.join(folder, n) for n in os.listdir(folder) if DAMAGED in n]


def test_a_damaged_file_is_moved_aside_and_its_valid_turns_kept(any_store_location):
    """Bad JSON, wrong types, missing keys, a value no backend stores and a line cut
    short, around two valid turns: both valid turns are kept, the file is moved aside
    (0600, as it was) with one warning naming the lines, and the store opens."""
    store = open_store(any_store_location).as_user("ana")
    first, second = a_run("first valid turn"), a_run("second valid turn")
    missing = turn_entry(a_run("no time"), "ana")
    del missing["created_at"]
    wrong = turn_entry(a_run("a number for a time"), "ana") | {"created_at": 5}
    nul = turn_entry(a_run("a NUL \x00 in it"), "ana")
    data = (line_of(first) + b"{not json\n" + json.dumps(missing).encode() + b"\n"
            + json.dumps(wrong).encode() + b"\n" + b"[1, 2]\n"
            + json.dumps(nul).encode() + b"\n" + line_of(second)
            + line_of(a_run("cut short by the kill"))[:40])
    path = turn_file(store, dead_writer(), data)
    with pytest.warns(TurnsInFlightWarning, match="was damaged") as caught:
        store = reopen(store, any_store_location)
    (message,) = [str(w.message) for w in caught]
    for what in ("line 2 is not JSON", "line 3: created_at is not a time",
                 "line 4: created_at is not a time", "line 5 is not a turn",
                 "line 6: content contains a NUL byte", "and 1 more problem)"):
        assert what in message, message
    assert contents(store) == [("interrupted", "first valid turn"),
                               ("interrupted", "second valid turn")]
    assert not os.path.exists(path)
    (aside,) = aside_files(store)
    assert aside.startswith(path + DAMAGED) and aside in message
    assert stat.S_IMODE(os.stat(aside).st_mode) == 0o600
    with open(aside, "rb") as f:
        assert f.read() == data  # kept whole, for a person to read
    # Moved aside: never read as turns again, no warning, nothing kept twice.
    store = reopen(store, any_store_location)
    assert contents(store) == [("interrupted", "first valid turn"),
                               ("interrupted", "second valid turn")]
    assert store.as_user("ana").append_run(a_run("the next turn")) == 2
    store.close()


@pytest.mark.parametrize("damage", [
    "not json", "a list", "missing keys", "wrong types", "a bad time", "cut short",
    "not utf-8", "deeply nested", "a lone surrogate", "a long id", "a bad role"])
def test_each_kind_of_damage_leaves_the_store_openable(damage, tmp_path):
    location = "sqlite://" + str(tmp_path / "a.sqlite")
    store = open_store(location).as_user("ana")
    entry = turn_entry(a_run("text"), "ana")
    data = {
        "not json": b"{\"run_id\": \n",
        "a list": b"[1, 2, 3]\n",
        "missing keys": json.dumps({"run_id": "r1"}).encode() + b"\n",
        "wrong types": json.dumps(entry | {"session_id": ["s"], "content": 7}).encode()
        + b"\n",
        "a bad time": json.dumps(entry | {"created_at": "yesterday"}).encode() + b"\n",
        "cut short": line_of(a_run("cut"))[:-30],
        "not utf-8": b"\xff\xfe{}\n",
        "deeply nested": b"[" * 100_000 + b"\n",
        "a lone surrogate": (json.dumps(entry | {"content": "\ud800"}) + "\n").encode(),
        "a long id": json.dumps(entry | {"session_id": "s" * 300}).encode() + b"\n",
        "a bad role": json.dumps(entry | {"role": "god"}).encode() + b"\n",
    }[damage]
    path = turn_file(store, dead_writer(), data)
    with pytest.warns(TurnsInFlightWarning, match="was damaged"):
        store = reopen(store, location)
    assert store.session_runs("s") == [] and not os.path.exists(path)
    assert len(aside_files(store)) == 1
    assert store.as_user("ana").append_run(a_run("works")) == 0
    store.close()


def test_a_turn_whose_message_id_is_another_runs_is_left_out(any_store_location):
    """Two turns (or a turn and a stored run) with one message id: the first is kept,
    the other is not, the file is moved aside; the open does not fail on the key."""
    store = open_store(any_store_location).as_user("ana")
    stored = a_run("stored earlier")
    store.as_user("ana").append_run(stored)
    copy = a_run("copies a stored message id")
    copy.messages[0].message_id = stored.messages[0].message_id
    mine, twin = a_run("mine"), a_run("its twin")
    twin.messages[0].message_id = mine.messages[0].message_id
    turn_file(store, dead_writer(), line_of(copy) + line_of(mine) + line_of(twin))
    with pytest.warns(TurnsInFlightWarning, match="message id is another run's"):
        store = reopen(store, any_store_location)
    assert contents(store) == [("ok", "stored earlier"), ("interrupted", "mine")]
    assert len(aside_files(store)) == 1
    store.close()


class Unblocker:
    """If a reader blocks on the FIFO ``path`` (the defect), opens it for writing after
    ``seconds`` so that the test fails instead of hanging; ``had_to`` says it did."""

    def __init__(self, path: str, seconds: float) -> None:
        self.had_to = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(path, seconds),
                                        daemon=True)
        self._thread.start()

    def _watch(self, path: str, seconds: float) -> None:
        if self._done.wait(seconds):
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO: nobody reads it
        except OSError:
            return
        self.had_to = True
        os.close(fd)

    def stop(self) -> bool:
        self._done.set()
        self._thread.join(5)
        return self.had_to


def test_a_fifo_is_refused_without_a_hang(any_store_location):
    store = open_store(any_store_location).as_user("ana")
    folder = store.engine.journal.folder
    private_folder(folder)
    fifo = os.path.join(folder, file_name(dead_writer()))
    os.mkfifo(fifo, 0o600)
    unblocker = Unblocker(fifo, 10)
    try:
        with pytest.warns(TurnsInFlightWarning, match="not a plain file"):
            store = reopen(store, any_store_location)
        with pytest.warns(TurnsInFlightWarning, match="not a plain file"):
            store.engine.recent_runs.clear()  # an append off the run cache looks again
            assert store.as_user("ana").append_run(a_run("the next turn")) == 0
    finally:
        assert not unblocker.stop(), "a read of the FIFO blocked"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # left as it is
    os.unlink(fifo)
    store.close()


def test_symlinks_and_other_users_files_are_never_read(any_store_location, tmp_path):
    """A file of turns that is a symbolic link (to a real file of turns elsewhere), and
    one owned by another user: refused, not kept, not changed, not deleted."""
    store = open_store(any_store_location).as_user("ana")
    folder = store.engine.journal.folder
    private_folder(folder)
    elsewhere = tmp_path / "elsewhere.jsonl"
    linked = line_of(a_run("through a link"))
    elsewhere.write_bytes(linked)
    link = os.path.join(folder, file_name(dead_writer()))
    os.symlink(elsewhere, link)
    theirs = turn_file(store, dead_writer(), line_of(a_run("another user's file")))
    os.chown(theirs, 65534, 65534)
    with pytest.warns(TurnsInFlightWarning) as caught:
        store = reopen(store, any_store_location)
    said = " ".join(str(w.message) for w in caught)
    assert f"{link} is a symbolic link" in said
    assert f"{theirs} belongs to another user (uid 65534)" in said
    assert store.session_runs("s") == []
    assert os.path.islink(link) and os.path.exists(theirs)
    assert elsewhere.read_bytes() == linked
    os.unlink(link)
    os.unlink(theirs)
    store.close()


def test_a_symlinked_folder_is_never_read(any_store_location, tmp_path):
    """``<db>.inflight`` (or the PostgreSQL folder) replaced by a symbolic link to a
    folder holding a dead process's turn: not read, not followed, nothing deleted."""
    store = open_store(any_store_location).as_user("ana")
    folder = store.engine.journal.folder
    store.close()
    target = tmp_path / "target"
    target.mkdir(mode=0o700)
    planted = target / file_name(dead_writer())
    planted.write_bytes(line_of(a_run("planted")))
    if os.path.isdir(folder):
        os.rmdir(folder)
    os.symlink(target, folder)
    try:
        with pytest.warns(TurnsInFlightWarning, match="symbolic link or not a folder"):
            store = reopen(store, any_store_location)
        assert store.session_runs("s") == [] and planted.exists()
        # Turns go on (unprotected: nothing is written through the link).
        assert store.as_user("ana").append_run(a_run("a turn")) == 0
        store.as_user("ana").stage_run(a_run("staged"))
        assert os.listdir(target) == [planted.name]
    finally:
        os.unlink(folder)
    store.close()


def test_our_file_name_taken_by_a_link_is_never_written_through(db_path, tmp_path):
    """The process's own file name made a symbolic link before its first turn: the turn
    goes on unprotected; the link's target is not written."""
    store = open_store(db_path).as_user("ana")
    journal = store.engine.journal
    private_folder(journal.folder)
    target = tmp_path / "target.txt"
    target.write_text("not yours\n")
    os.symlink(target, os.path.join(journal.folder, file_name(writer_id())))
    run = a_run("secret")
    store.as_user("ana").stage_run(run)
    assert target.read_text() == "not yours\n"
    assert store.as_user("ana").append_run(run) == 0
    store.close()


def test_drop_user_removes_a_users_turns_from_every_file(any_store_location):
    """bob's turns go from a live process's file, a dead process's damaged file moved
    aside (a line too damaged to read included, when it names him) and this process's
    own file and unstored turns; ana's stay, files stay 0600, and this process's next
    turn is written to its (new) file."""
    store = open_store(any_store_location).as_user("ana")
    journal = store.engine.journal
    ana, bob = a_run("ana's words"), a_run("bob's secret", session="b")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(f"/proc/{alive.pid}/stat", "rb") as f:
            start = f.read().rsplit(b")", 1)[-1].split()[19].decode()
        live = turn_file(store, f"{socket.gethostname()}:{alive.pid}:{start}",
                         line_of(ana) + line_of(bob, "bob"))
        cut = line_of(a_run("bob's cut secret", "b"), "bob")[:-40]
        dead = a_run("bob's words a dead process left", session="b")
        damaged = turn_file(store, dead_writer(), line_of(dead, "bob") + b"{oops\n" + cut)
        with pytest.warns(TurnsInFlightWarning, match="was damaged"):
            store = reopen(store, any_store_location)
        journal = store.engine.journal
        (aside,) = aside_files(store)
        assert not os.path.exists(damaged)
        mine = a_run("bob in this process", session="b")
        store.as_user("bob").stage_run(mine)
        journal.done(mine.run_id, turn_entry(mine, "bob"))  # its append failed: kept here
        assert journal.drop_user("bob") == 5
        names = os.listdir(journal.folder)
        texts = b"".join(read(os.path.join(journal.folder, n)) for n in names)
        assert b"bob" not in texts and b"ana's words" in texts
        assert journal.take_unstored() == []
        with open(live, "rb") as f:
            assert f.read() == line_of(ana)
        with open(aside, "rb") as f:
            assert f.read() == b"{oops\n"
        assert {stat.S_IMODE(os.stat(os.path.join(journal.folder, n)).st_mode)
                for n in names} == {0o600}
        again = a_run("ana again")
        store.as_user("ana").stage_run(again)  # our rewritten file: the turn lands in it
        with open(os.path.join(journal.folder, file_name(writer_id())), "rb") as f:
            assert b"ana again" in f.read()
        store.as_user("ana").append_run(again)
    finally:
        alive.kill()
        alive.wait()
    store = reopen(store, any_store_location)  # the live process is gone: ana's turn kept
    assert contents(store) == [("ok", "ana again"), ("interrupted", "ana's words")]
    # (The dead process's valid turn of bob was kept as a run at the reopen above,
    # before drop_user: a purge deletes it in SQL.) Nothing else of bob's came back.
    assert contents(store.as_user("bob"), "b") == [
        ("interrupted", "bob's words a dead process left")]
    store.close()

