"""Holes a hostile review of issue 15's ownership found after the merges: each test is
bob reaching (or disturbing) ana's data by a path the merged branches added."""

from __future__ import annotations

import pytest

from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Message, Run, utcnow


def _turn(store, session: str, text: str) -> Run:
    run = Run(session_id=session, status="ok",
              messages=[Message(role="user", content=text),
                        Message(role="assistant", content="noted " + text)])
    store.stage_run(run)
    store.append_run(run)
    return run


def test_bob_reading_anas_history_leaves_her_cached_history(any_store_location):
    """The run cache is shared by every user of an engine: bob's read of ana's session
    (absent to him) must not teach it that her session has no runs."""
    store = open_store(any_store_location)
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        for i in range(3):
            _turn(ana, "ana_s", f"ana secret {i}")
        assert [r.seq for r in ana.recent_runs("ana_s", 5)] == [0, 1, 2]
        assert bob.recent_runs("ana_s", 5) == []
        assert [r.seq for r in ana.recent_runs("ana_s", 5)] == [0, 1, 2]
    finally:
        store.close()
    store = open_store(any_store_location)  # a new hold: bob reads first, then ana writes
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        assert bob.recent_runs("ana_s", 5) == []
        _turn(ana, "ana_s", "ana secret 3")
        assert [r.seq for r in ana.recent_runs("ana_s", 5)] == [0, 1, 2, 3]
    finally:
        store.close()


def _dead_turn(store, run: Run, user_id: str) -> None:
    """``run``'s turn as a dead process of ``user_id`` left it in its file of turns in
    flight; kept by the next append off the run cache."""
    import json
    import os
    import socket
    import subprocess
    import sys

    from jupyter_agentmem.store.files import private_folder
    from jupyter_agentmem.store.journal import file_name
    from jupyter_agentmem.store.sql.staged import turn_entry

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    journal = store.engine.journal
    private_folder(journal.folder)
    with open(os.path.join(journal.folder, file_name(f"{socket.gethostname()}:{proc.pid}:")),
              "a") as f:
        f.write(json.dumps(turn_entry(run, user_id)) + "\n")
    store.engine.recent_runs.clear()


def test_a_dead_turn_in_a_session_nobody_owns_claims_it(any_store_location):
    """bob's turn into a session nobody owns died: kept, it claims the session for bob
    (as his append would have), so ana cannot read his message there, nor take it."""
    store = open_store(any_store_location)
    try:
        with store.engine.transaction() as con:
            con.execute("INSERT INTO sessions (session_id, user_id, created_at, updated_at, "
                        "namespace) VALUES ('shared', NULL, ?, ?, ?)",
                        [utcnow(), utcnow(), store.session_namespace])
        ana, bob = store.as_user("ana"), store.as_user("bob")
        run = Run(session_id="shared", messages=[Message(role="user", content="bob-dead-77")])
        _dead_turn(store, run, "bob")
        _turn(ana, "ana_s", "ana's turn")  # an append off the cache keeps bob's turn
        assert [r.message.content for r in bob.session_runs("shared")] == ["bob-dead-77"]
        assert ana.session_runs("shared") == []
        assert ana.search("bob-dead-77") == []
        with pytest.raises(StoreError, match="belongs to another user"):
            _turn(ana, "shared", "ana takes it")
    finally:
        store.close()


def test_a_dead_turn_kept_aside_never_lands_in_a_session_of_another_user(
        any_store_location):
    """The new session a taken session's turn goes to may exist and be someone else's:
    the turn then goes to another new session of its writer's."""
    store = open_store(any_store_location)
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        _turn(ana, "taken", "ana's")
        run = Run(session_id="taken", messages=[Message(role="user", content="bob-dead-88")])
        _turn(ana, f"taken-kept-{run.run_id[:8]}", "ana's other session")
        _dead_turn(store, run, "bob")
        _turn(ana, "ana_s", "ana's turn")
        for session in (s["session_id"] for s in ana.list_sessions()):
            texts = [m.content for r in ana.session_runs(session) for m in r.messages]
            assert "bob-dead-88" not in texts, session
        kept = [s["session_id"] for s in bob.list_sessions()]
        assert len(kept) == 1
        assert [r.message.content for r in bob.session_runs(kept[0])] == ["bob-dead-88"]
    finally:
        store.close()


def _memory_row(memory_id: str, user: str, session: str, text: str) -> dict:
    return {"memory_id": memory_id, "user_id": user, "session_id": session, "memory": text,
            "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-01T00:00:00"}


def test_a_memory_never_names_another_users_session(any_store_location):
    """A memory naming ana's session is carried by her session's export: bob can neither
    add nor import one, and one already stored (a file written before) is left out of
    her export, its events too."""
    from jupyter_agentmem.types import Memory

    store = open_store(any_store_location)
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        _turn(ana, "ana_s", "ana secret")
        _turn(bob, "bob_s", "bob's turn")
        with pytest.raises(StoreError, match="belongs to another user"):
            bob.add_memory(Memory(user_id="bob", memory="bob-added-41", session_id="ana_s"))
        with pytest.raises(StoreError, match="belongs to another user"):
            bob.import_rows({"memories": [_memory_row("m-b", "bob", "ana_s", "bob-imp-42")]})
        with pytest.raises(StoreError, match="belongs to another user"):
            ana.import_rows({"memories": [_memory_row("m-a", "ana", "bob_s", "ana-imp-43")]})
        assert bob.add_memory(Memory(user_id="bob", memory="own", session_id="bob_s"))
        store.import_all({"memories": [_memory_row("m-old", "bob", "ana_s", "bob-old-44")],
                          "memory_events": [{
                              "event_id": "e-old", "target": "memory", "target_id": "m-old",
                              "user_id": "bob", "session_id": "ana_s", "action": "add",
                              "new": {"memory": "bob-old-44"}, "actor": "user",
                              "created_at": "2025-01-01T00:00:00"}]})
        exported = repr(ana.export_rows(session_id="ana_s"))
        assert "ana secret" in exported
        assert "bob-" not in exported
        assert "bob-old-44" not in repr(ana.export_rows())
    finally:
        store.close()


def test_a_model_call_never_names_another_users_session(any_store_location):
    """A model call naming ana's session is carried by her session's export: bob cannot
    record one, and one stored before is left out of her export."""
    from jupyter_agentmem.types import ModelCall

    store = open_store(any_store_location)
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        _turn(ana, "ana_s", "ana secret")
        call = ModelCall(kind="memory", model="bob-model-51", session_id="ana_s",
                         user_id="bob", input_tokens=1, output_tokens=1, latency_ms=1.0,
                         ok=True)
        with pytest.raises(StoreError, match="belongs to another user"):
            bob.record_model_call(call)
        store.import_all({"model_calls": [{**call.model_dump(mode="json")}]})
        assert "bob-model-51" not in repr(ana.export_rows(session_id="ana_s"))
    finally:
        store.close()


def test_a_failed_append_never_completes_another_users_interrupted_run(any_store_location):
    """bob's append that fails (a taken run id) completes the run kept as interrupted
    only when it is his: ana's interrupted run (its reply) is left as it was."""
    store = open_store(any_store_location)
    try:
        ana, bob = store.as_user("ana"), store.as_user("bob")
        run = Run(session_id="ana_s", messages=[Message(role="user", content="ana-int-61")])
        run.messages.append(Message(role="assistant", content="ana-shown-62"))
        ana.stage_run(run)
        with store.engine.transaction() as con:  # ana's turn, kept as interrupted
            con.execute("INSERT INTO sessions (session_id, user_id, created_at, updated_at, "
                        "namespace) VALUES ('ana_s', 'ana', ?, ?, ?)",
                        [utcnow(), utcnow(), store.session_namespace])
            con.execute("INSERT INTO runs (run_id, session_id, seq, status, user_id, "
                        "created_at) VALUES (?, 'ana_s', 0, 'interrupted', 'ana', ?)",
                        [run.run_id, utcnow()])
            for seq, m in enumerate(run.messages):
                con.execute("INSERT INTO messages (message_id, session_id, run_id, seq, role, "
                            "content, created_at) VALUES (?, 'ana_s', ?, ?, ?, ?, ?)",
                            [m.message_id, run.run_id, seq, m.role, m.content, utcnow()])
        forged = Run(run_id=run.run_id, session_id="bob_s", status="ok",
                     messages=[Message(role="user", content="bob-62"),
                               Message(role="assistant", content="bob-63")])
        bob.stage_run(forged)
        with pytest.raises(Exception):  # noqa: B017,PT011 (each engine's key error)
            bob.append_run(forged)
        texts = [m.content for r in ana.session_runs("ana_s") for m in r.messages]
        assert texts == ["ana-int-61", "ana-shown-62"]
        assert [r.status for r in ana.session_runs("ana_s")] == ["interrupted"]
    finally:
        store.close()
