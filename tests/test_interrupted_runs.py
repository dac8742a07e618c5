"""A turn's user message is stored while the model is called; a run whose process
stopped in between is kept as ``interrupted`` (store/sql/staged.py).

The SIGKILL tests are in test_crash_kills.py and test_concurrency.py; these check the
pieces in one process: the request does not wait for the write, what an interrupted run
looks like to history, the prompt and phidata's shapes, and that a run in flight in a
live process is never taken from it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from IPython.utils.capture import capture_output
from model_server import Reply, roles_and_contents
from turn_files import a_run, dead_writer, write_turn_file

from jupyter_agentmem import Agent
from jupyter_agentmem.storage import AgentStorage
from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.files import private_folder
from jupyter_agentmem.store.journal import file_name, writer_alive, writer_id
from jupyter_agentmem.types import Message, Run, utcnow


def interrupt(store, text: str, session: str = "s", user: str | None = "ana") -> Run:
    """A turn whose process 'died' before its run was stored: its file of turns in
    flight, as that process left it."""
    run = a_run(text, session)
    store.as_user(user).stage_run(run)
    store.engine.journal.done(run.run_id, None)  # ours: emptied (as if never written)
    write_turn_file(store, dead_writer(), run, user)
    return run


def reply(run: Run, text: str) -> Run:
    run.messages.append(Message(role="assistant", content=text))
    return run


def test_the_request_does_not_wait_for_the_database(server, model, any_store_location):
    """From the moment the request is built, another thread holds the database in a
    transaction (as the memory worker, a slow disk or a long commit would) until the
    first token: the message is kept (a file write, or a thread on PostgreSQL) and the
    request goes out all the same."""
    agent = Agent(model=model, storage=AgentStorage(open_store(any_store_location)),
                  session_id="s", add_history_to_messages=True)
    agent.run("warm-up")  # the database is open and migrated
    engine = agent.store.engine
    held, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def hold() -> None:
        with engine.transaction():
            held.set()
            released.append(release.wait(10))

    holder = threading.Thread(target=hold)

    def on_request(request) -> None:  # just before the message is kept and sent
        holder.start()
        assert held.wait(10)

    deltas: list[str] = []

    def on_delta(delta: str) -> None:
        deltas.append(delta)
        release.set()  # the first token came while the database was held

    try:
        response = agent.respond("hello", on_delta=on_delta, on_request=on_request)
    finally:
        release.set()
        holder.join(30)
    assert released == [True], "the request waited for the database"
    assert deltas and response.status == "ok" and response.stored
    assert [(r.status, [m.content for m in r.messages])
            for r in agent.store.session_runs("s")][-1] == ("ok", ["hello", "echo: hello"])


def test_a_turn_inside_a_callers_batch_writes_at_once(server, model, db_path):
    """Inside ``store.batch()`` the staging write joins the caller's transaction (a
    thread would wait for it, and the turn for the thread)."""
    store = open_store(db_path)
    agent = Agent(model=model, storage=AgentStorage(store), session_id="s")
    with store.batch():
        response = agent.respond("in a batch")
    assert response.stored
    assert [[m.content for m in r.messages] for r in store.session_runs("s")] == [
        ["in a batch", "echo: in a batch"]]


def test_a_run_is_stored_as_before_message_by_message(any_store_location):
    """Staged + appended: the same rows as one append (seq, roles, search index)."""
    store = open_store(any_store_location).as_user("ana")
    run = a_run("staged question")
    store.as_user("ana").stage_run(run)
    assert store.as_user("ana").append_run(reply(run, "the answer")) == 0
    store.as_user("ana").append_run(reply(a_run("whole question"), "another answer"))
    rows = store.message_rows("s")
    assert [(r["run_seq"], r["seq"], r["role"], r["content"], r["status"]) for r in rows] == [
        (0, 0, "user", "staged question", "ok"), (0, 1, "assistant", "the answer", "ok"),
        (1, 0, "user", "whole question", "ok"), (1, 1, "assistant", "another answer", "ok")]
    assert [h["id"] for h in store.as_user("ana").search("staged")] == [
        run.messages[0].message_id]
    assert store.engine.journal.in_flight == set()
    store.close()


def test_a_dead_turn_is_kept_as_an_interrupted_run(any_store_location):
    store = open_store(any_store_location).as_user("ana")
    store.as_user("ana").append_run(reply(a_run("q0"), "a0"))
    lost = interrupt(store, "the message of a kernel that died")
    store.close()  # a new process opens the database: the run is kept, interrupted
    store = open_store(any_store_location).as_user("ana")
    runs = store.session_runs("s")
    assert [(r.seq, r.status, [m.content for m in r.messages]) for r in runs] == [
        (0, "ok", ["q0", "a0"]),
        (1, "interrupted", ["the message of a kernel that died"])]
    assert runs[1].run_id == lost.run_id and runs[1].error
    assert store.get_session("s").user_id == "ana"
    # The next turn follows it: no gap, no duplicate, nothing twice.
    assert store.as_user("ana").append_run(reply(a_run("q2"), "a2")) == 2
    assert store.count_messages("s") == 5
    store.close()


def test_an_interrupted_run_is_kept_at_the_next_append_of_its_session(any_store_location):
    """Without a new open (PostgreSQL and SQLite stay connected): the session's next
    append that does not come from the run cache keeps it first."""
    store = open_store(any_store_location).as_user("ana")
    interrupt(store, "lost")
    store.engine.recent_runs.clear()
    assert store.as_user("ana").append_run(reply(a_run("next"), "answer")) == 1
    assert [(r.seq, r.status) for r in store.session_runs("s")] == [
        (0, "interrupted"), (1, "ok")]
    store.close()


def test_a_first_turn_that_died_leaves_its_session(db_path):
    store = open_store(db_path).as_user("ana")
    interrupt(store, "hello?", session="new")
    store.close()
    store = open_store(db_path).as_user("ana")
    assert store.get_session("new").user_id == "ana"
    assert [s["session_id"] for s in store.list_sessions()] == ["new"]
    with pytest.raises(Exception, match="another user"):  # still ana's session
        store.as_user("bob").append_run(a_run("mine now?", "new"))
    store.close()


def test_a_run_in_flight_elsewhere_is_left_to_its_writer(any_store_location):
    """A staged run whose writer lives (another kernel, mid-stream) is not taken; one whose
    writer is taken for dead anyway is completed by its writer's own append."""
    writer = open_store(any_store_location).as_user("ana")
    run = a_run("in flight")
    writer.as_user("ana").stage_run(run)
    other = open_store(any_store_location).as_user("ana")  # (this process: the same engine)
    other.engine.recent_runs.clear()
    other.as_user("ana").append_run(reply(a_run("meanwhile"), "answer"))  # in flight: left alone
    assert [(r.status, r.messages[0].content) for r in other.session_runs("s")] == [
        ("ok", "meanwhile")]
    # Taken for dead (its file seen as a dead process's): kept as interrupted...
    write_turn_file(writer, dead_writer(), run, "ana")
    other.engine.recent_runs.clear()
    other.as_user("ana").append_run(reply(a_run("later"), "answer"))
    assert [(r.seq, r.status) for r in other.session_runs("s")] == [
        (0, "ok"), (1, "interrupted"), (2, "ok")]
    # ...and its writer's append completes it: one run, whole, its seq kept. (Another
    # process keeping it held the file meanwhile: the writer's run cache is of an older
    # generation, so its append goes to the database, never to the deferred commit.)
    writer.engine.recent_runs.clear()
    assert writer.as_user("ana").append_run(reply(run, "the reply")) == 1
    runs = writer.session_runs("s")
    assert [(r.seq, r.status, [m.content for m in r.messages]) for r in runs] == [
        (0, "ok", ["meanwhile", "answer"]), (1, "ok", ["in flight", "the reply"]),
        (2, "ok", ["later", "answer"])]
    assert [h["id"] for h in writer.as_user("ana").search("reply")] == [
        run.messages[1].message_id]
    writer.close()
    other.close()


@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_a_live_process_file_is_left_until_it_ends(backend, tmp_path):
    db = (str(tmp_path / "a.duckdb") if backend == "duckdb"
          else "sqlite://" + str(tmp_path / "a.sqlite"))
    store = open_store(db).as_user("ana")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with open(f"/proc/{alive.pid}/stat", "rb") as f:
            start = f.read().rsplit(b")", 1)[-1].split()[19].decode()
        writer = f"{socket.gethostname()}:{alive.pid}:{start}"
        idle = os.path.join(store.engine.journal.folder, file_name(writer))
        private_folder(os.path.dirname(idle))
        open(idle, "w").close()  # between two turns: an empty file, still its own
        store.close()
        store = open_store(db).as_user("ana")
        assert os.path.exists(idle)
        run = a_run("mid-stream in another kernel")
        path = write_turn_file(store, writer, run, "ana")
        store.close()
        store = open_store(db).as_user("ana")
        assert store.session_runs("s") == [] and os.path.exists(path)
    finally:
        alive.kill()
        alive.wait()
    store.close()
    store = open_store(db).as_user("ana")  # the process is gone: its turn is kept, its file deleted
    assert [(r.status, r.messages[0].content) for r in store.session_runs("s")] == [
        ("interrupted", "mid-stream in another kernel")]
    assert not os.path.exists(path)
    store.close()


def test_the_file_of_turns_in_flight_is_private_and_emptied(server, model, tmp_path):
    db = str(tmp_path / "private" / "agent.duckdb")
    agent = Agent(model=model, storage=AgentStorage(open_store(db)), session_id="s")
    seen: list[bytes] = []
    journal = agent.store.engine.journal

    def on_delta(delta: str) -> None:  # while the reply streams: the message is there
        (name,) = os.listdir(journal.folder)
        with open(os.path.join(journal.folder, name), "rb") as f:
            seen.append(f.read())

    agent.respond("a personal message", on_delta=on_delta)
    assert seen and b"a personal message" in seen[0]
    assert os.stat(journal.folder).st_mode & 0o777 == 0o700
    (name,) = os.listdir(journal.folder)
    info = os.stat(os.path.join(journal.folder, name))
    assert info.st_mode & 0o777 == 0o600 and info.st_size == 0  # emptied once stored
    os.unlink(os.path.join(journal.folder, name))  # deleted (by hand, by another process)
    seen.clear()
    agent.respond("another message", on_delta=on_delta)
    assert seen and b"another message" in seen[0]  # written to a new file, not to the lost one


def test_writers_alive_or_dead():
    assert writer_alive(writer_id(), utcnow())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    assert not writer_alive(f"{host}:{dead.pid}:", utcnow())
    # The same pid given to a later process is another process.
    me = writer_id().rsplit(":", 1)[0]
    assert not writer_alive(me + ":1", utcnow())
    # Another host cannot be asked: alive while its run could still be in flight.
    assert writer_alive("elsewhere:1:2", utcnow())
    assert not writer_alive("elsewhere:1:2", utcnow() - timedelta(hours=2))


def test_history_shows_an_interrupted_run_and_the_prompt_leaves_it_out(shell, server,
                                                                      db_path):
    with capture_output():
        shell.run_cell_magic("agent", "session=h", "first")
    store = open_store(db_path)
    interrupt(store, "cut short", session="h", user="default")
    store.close()
    store.engine.recent_runs.clear()
    with capture_output():
        shell.run_cell_magic("agent", "session=h", "after")
    # The prompt: the runs that got a reply, never the interrupted message alone.
    assert roles_and_contents(server.of("chat")[-1])[-3:] == [
        ("user", "first"), ("assistant", "echo: first"), ("user", "after")]
    history = shell.run_line_magic("agent", "history session=h")
    assert list(history.columns) == ["run", "role", "content", "time", "status"]
    assert list(zip(history["run"], history["role"], history["content"],
                    history["status"], strict=True)) == [
        (0, "user", "first", "ok"), (0, "assistant", "echo: first", "ok"),
        (1, "user", "cut short", "interrupted"),
        (2, "user", "after", "ok"), (2, "assistant", "echo: after", "ok")]


def test_phidata_shapes_leave_an_interrupted_run_out(server, model, db_path):
    agent = Agent(model=model, storage=AgentStorage(open_store(db_path)), session_id="p",
                  user_id="ana", add_history_to_messages=True)
    agent.run("one")
    interrupt(agent.store, "cut short", session="p")
    agent.store.engine.recent_runs.clear()
    server.script(Reply(content="two!"))
    agent.run("two")
    session = agent.get_agent_session()
    assert [r["message"]["content"] for r in session.memory["runs"]] == ["one", "two"]
    assert [m["content"] for m in session.memory["messages"]] == [
        "one", "echo: one", "two", "two!"]
    assert agent.get_chat_history() and "cut short" not in agent.get_chat_history()
    assert [(r.seq, r.status) for r in agent.store.session_runs("p")] == [
        (0, "ok"), (1, "interrupted"), (2, "ok")]


def test_a_purge_takes_a_dead_processs_turns_too(any_store_location):
    """A turn a killed process left in its file is the user's text like any other: a
    purge deletes it, and it never comes back as an interrupted run afterwards."""
    store = open_store(any_store_location).as_user("ana")
    store.as_user("ana").append_run(reply(a_run("kept? no: purged"), "a0"))
    lost = a_run("a secret the kernel died with")
    path = write_turn_file(store, dead_writer(), lost, "ana")
    store.as_user("ana").purge(session_id="s")
    assert store.session_runs("s") == [] and not os.path.exists(path)
    store.close()
    store = open_store(any_store_location).as_user("ana")
    assert store.session_runs("s") == []
    assert store.as_user("ana").search("secret") == []
    store.close()
