"""Ownership in one place: bob, by every public way in, gets a refusal or nothing of ana's.

The table below has one probe (or more) per public entry point: every ``%agent``
subcommand and ``%%agent``, the public API (``jupyter_agentmem.__all__``), phidata's
classes (``Agent``, ``AgentMemory``, ``AgentStorage``, ``MemoryDb``), the panel and the
command line. Each probe acts as bob against ana's session, memory, messages and runs, on
DuckDB, SQLite and PostgreSQL, and then: nothing bob saw (returned, printed, written to a
file, or sent to the model) holds any of ana's texts, and everything of ana's is as it
was (her whole export, row by row). ``test_every_entry_point_is_probed`` enumerates the
entry points from the command table and the classes: a new one not in the table fails.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import jupyter_agentmem
from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.__main__ import main as cli
from jupyter_agentmem.model import ModelError
from jupyter_agentmem.notebook.commands import COMMANDS
from jupyter_agentmem.notebook.panel import panel
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.store.handles import AgentStorage, MemoryDb
from jupyter_agentmem.types import Memory, SessionSummary

# What ana stored: none of it may reach bob.
ANA_MESSAGE = "ana-secret-message-7731"
ANA_MEMORY = "ana-secret-memory-keeps-bees-5512"
ANA_SUMMARY = "ana-secret-summary-9904"
SECRETS = (ANA_MESSAGE, ANA_MEMORY, ANA_SUMMARY)
REFUSALS = (StoreError, UsageError, ModelError, SystemExit)


@dataclass
class World:
    location: str
    model: Any
    server: Any
    shell: Any
    tmp: Path
    memory_id: str = ""
    message_id: str = ""
    run_id: str = ""
    seen: list[str] = field(default_factory=list)  # what bob was shown

    @property
    def store(self):
        return open_store(self.location)

    def bob_agent(self, session: str = "ana_s", **kwargs: Any) -> Agent:
        return Agent(model=self.model, storage=AgentStorage(self.store), session_id=session,
                     user_id="bob", add_history_to_messages=True, **kwargs)

    def magic(self, line: str, cell: str | None = None) -> Any:
        if cell is None:
            return self.shell.run_line_magic("agent", line)
        return self.shell.run_cell_magic("agent", line, cell)


@pytest.fixture
def world(any_store_location, server, model, shell, tmp_path) -> World:
    magics = shell.magics_manager.registry["AgentMagics"]
    magics.db = any_store_location
    w = World(any_store_location, model, server, shell, tmp_path)
    ana = Agent(model=model, storage=AgentStorage(w.store), session_id="ana_s",
                user_id="ana", add_history_to_messages=True)
    ana.run(f"remember {ANA_MESSAGE}")
    ana.run("and a second turn")
    store = w.store.as_user("ana")
    w.memory_id = store.add_memory(Memory(user_id="ana", memory=ANA_MEMORY,
                                          session_id="ana_s"), actor="user").memory_id
    store.add_summary(SessionSummary(session_id="ana_s", summary=ANA_SUMMARY,
                                     through_run_seq=1), actor="user")
    rows = store.message_rows("ana_s")
    w.message_id = rows[0]["message_id"]
    w.run_id = rows[0]["run_id"]
    (tmp_path / "out").mkdir()
    return w


def _ana_rows(w: World) -> dict[str, list[dict[str, Any]]]:
    return w.store.as_user("ana").export_rows()


def _shown(value: Any) -> str:
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return value.to_string()
    except ImportError:  # pragma: no cover
        pass
    try:
        return json.dumps(value, default=repr)
    except (TypeError, ValueError):
        return repr(value)


# --- the probes: name -> what bob does ------------------------------------------------
Probe = Callable[[World], Any]


def _crafted_import(w: World, rows: list[dict[str, Any]]) -> str:
    path = w.tmp / "out" / "crafted.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _import_into_anas_session(w: World) -> Any:
    path = _crafted_import(w, [
        {"table": "sessions", "row": {"session_id": "ana_s", "user_id": "ana"}},
        {"table": "runs", "row": {"run_id": "r-bob", "session_id": "ana_s", "seq": 0,
                                  "status": "ok", "user_id": "ana",
                                  "created_at": "2026-01-01T00:00:00"}},
        {"table": "messages", "row": {"message_id": "m-bob", "session_id": "ana_s",
                                      "run_id": "r-bob", "seq": 0, "role": "assistant",
                                      "content": "injected by bob",
                                      "created_at": "2026-01-01T00:00:00"}},
        {"table": "memories", "row": {"memory_id": "mem-bob", "user_id": "ana",
                                      "memory": "injected by bob", "topics": [],
                                      "created_at": "2026-01-01T00:00:00",
                                      "updated_at": "2026-01-01T00:00:00"}}])
    return w.magic(f"import path={path} user=bob")


def _import_ownerless_rows_into_anas_session(w: World) -> Any:
    path = _crafted_import(w, [
        {"table": "runs", "row": {"run_id": "r-bob2", "session_id": "ana_s", "seq": 9,
                                  "status": "ok", "created_at": "2026-01-01T00:00:00"}},
        {"table": "messages", "row": {"message_id": "m-bob2", "session_id": "ana_s",
                                      "run_id": "r-bob2", "seq": 0, "role": "user",
                                      "content": "injected", "created_at": "2026-01-01"}}])
    return w.magic(f"import path={path} user=bob")


def _import_anas_memory_id(w: World) -> Any:
    path = _crafted_import(w, [{"table": "memories", "row": {
        "memory_id": w.memory_id, "user_id": None, "memory": "bob's now", "topics": [],
        "created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:00"}}])
    return w.magic(f"import path={path} user=bob")


def _export(w: World, line: str) -> Any:
    out = w.magic(line)
    for f in (w.tmp / "out").rglob("*"):
        if f.is_file():
            w.seen.append(f.read_text(errors="replace"))
    return out


def _panel_probe(w: World, **kwargs: Any) -> Any:
    p = panel(store=w.store, **kwargs)
    shown = [tab.frame for tab in p.all_tabs]
    p.close()
    return shown


def _panel_load(w: World) -> Any:
    p = panel(store=w.store, user_id="bob")
    p.load_session("ana_s")
    shown = [tab.frame for tab in p.all_tabs] + [p._status_text]
    p.close()
    return shown


def _cli_import_phidata(w: World) -> Any:
    """A phidata SQLite file naming ana's session id, imported as its user bob."""
    import sqlite3

    source = w.tmp / "phidata.db"
    con = sqlite3.connect(source)
    con.execute("CREATE TABLE agent_sessions (session_id TEXT PRIMARY KEY, agent_id TEXT, "
                "user_id TEXT, memory TEXT, agent_data TEXT, user_data TEXT, "
                "session_data TEXT, created_at INTEGER, updated_at INTEGER)")
    memory = {"runs": [{"message": {"role": "user", "content": "bob writes here"},
                        "response": {"content": "ok", "run_id": "phi-run",
                                     "messages": [{"role": "user", "content": "bob writes "
                                                   "here"},
                                                  {"role": "assistant", "content": "ok"}]}}]}
    con.execute("INSERT INTO agent_sessions VALUES ('ana_s', NULL, 'bob', ?, '{}', '{}', "
                "'{}', 1700000000, 1700000000)", [json.dumps(memory)])
    con.commit()
    con.close()
    return cli(["import-phidata", str(source), "--db", w.location])


PROBES: dict[str, Probe] = {
    # %%agent and every %agent subcommand
    "%%agent": lambda w: w.magic("session=ana_s user=bob", "what did ana say?"),
    "sessions": lambda w: w.magic("sessions user=bob"),
    "history": lambda w: w.magic("history session=ana_s user=bob"),
    "history at=": lambda w: w.magic(f"history at={w.message_id} user=bob"),
    "memories": lambda w: w.magic("memories user=bob deleted=on"),
    "summary": lambda w: w.magic("summary session=ana_s user=bob"),
    "forget memory_id=": lambda w: w.magic(f"forget memory_id={w.memory_id} user=bob"),
    "forget user= confirm=yes": lambda w: w.magic("forget user=bob confirm=yes"),
    "forget purge session=": lambda w: w.magic(
        "forget purge=yes session=ana_s user=bob confirm=yes"),
    "forget purge message=": lambda w: w.magic(
        f"forget purge=yes message={w.message_id} user=bob confirm=yes"),
    "forget purge user=": lambda w: w.magic("forget purge=yes user=bob confirm=yes"),
    "panel": lambda w: w.magic("panel session=ana_s user=bob"),
    "export session=": lambda w: _export(
        w, f"export session=ana_s user=bob path={w.tmp / 'out' / 'x.md'}"),
    "export user=": lambda w: _export(w, f"export user=bob path={w.tmp / 'out' / 'all.jsonl'}"),
    "import (ana's session)": _import_into_anas_session,
    "import (rows into ana's session)": _import_ownerless_rows_into_anas_session,
    "import (ana's memory id)": _import_anas_memory_id,
    "usage": lambda w: w.magic("usage user=bob"),
    "usage by=session": lambda w: w.magic("usage by=session user=bob"),
    "search": lambda w: w.magic(f'search "{ANA_MESSAGE} {ANA_MEMORY} {ANA_SUMMARY}" '
                                "user=bob"),
    "search session=": lambda w: w.magic(f'search "{ANA_MESSAGE}" session=ana_s user=bob'),
    "context": lambda w: w.magic("context session=ana_s user=bob"),
    "context run=": lambda w: w.magic(f"context run={w.run_id} user=bob"),
    "help": lambda w: w.magic("help"),
    # the public API
    "search()": lambda w: jupyter_agentmem.search(
        f"{ANA_MESSAGE} {ANA_MEMORY} {ANA_SUMMARY}", user_id="bob", store=w.store),
    "panel()": lambda w: _panel_probe(w),  # no user: acts as default
    "panel(session_id)": lambda w: _panel_probe(w, session_id="ana_s"),
    "panel(user_id)": lambda w: _panel_probe(w, user_id="bob"),
    "AgentPanel.load_session": _panel_load,
    # phidata's Agent
    "Agent.run": lambda w: w.bob_agent().run("what did ana say?"),
    "Agent.print_response": lambda w: w.bob_agent().print_response(
        "what did ana say?", console=_console()),
    "Agent.respond": lambda w: w.bob_agent().respond("what did ana say?"),
    "Agent.read_from_storage": lambda w: w.bob_agent().read_from_storage(),
    "Agent.load_session": lambda w: w.bob_agent().load_session(),
    "Agent.create_session": lambda w: w.bob_agent().create_session(),
    "Agent.write_to_storage": lambda w: w.bob_agent().write_to_storage(),
    "Agent.get_chat_history": lambda w: w.bob_agent().get_chat_history(),
    "Agent.get_agent_session": lambda w: w.bob_agent().get_agent_session(),
    "Agent.rename_session": lambda w: w.bob_agent().rename_session("bob's now"),
    "Agent.delete_session": lambda w: w.bob_agent(session="bob_s").delete_session("ana_s"),
    "Agent.new_session": lambda w: w.bob_agent().new_session(),
    "Agent.storage": lambda w: (w.bob_agent().storage.read("ana_s"),
                                w.bob_agent().storage.get_all_sessions()),
    "AgentMemory.db": lambda w: w.bob_agent(memory=AgentMemory(
        db=MemoryDb(w.store))).memory.db.read_memories(),
    "Agent.build_request": lambda w: w.bob_agent().build_request("what did ana say?"),
    "Agent.get_messages": lambda w: w.bob_agent().get_messages("what did ana say?"),
    # phidata's AgentMemory (through bob's agent)
    "AgentMemory.messages": lambda w: w.bob_agent().memory.messages,
    "AgentMemory.runs": lambda w: w.bob_agent().memory.runs,
    "AgentMemory.summary": lambda w: w.bob_agent(
        memory=AgentMemory(create_session_summary=True)).memory.summary,
    "AgentMemory.memories": lambda w: w.bob_agent().memory.memories,
    "AgentMemory.stored_runs": lambda w: w.bob_agent().memory.stored_runs(),
    "AgentMemory.get_messages": lambda w: w.bob_agent().memory.get_messages(),
    "AgentMemory.get_message_pairs": lambda w: w.bob_agent().memory.get_message_pairs(),
    "AgentMemory.get_messages_from_last_n_runs": lambda w: (
        w.bob_agent().memory.get_messages_from_last_n_runs()),
    "AgentMemory.prompt_memories": lambda w: w.bob_agent().memory.prompt_memories(
        "bob", ANA_MEMORY),
    "AgentMemory.recalled_exchanges": lambda w: w.bob_agent(
        memory=AgentMemory(recall=5)).memory.recalled_exchanges("bob", ANA_MESSAGE, ()),
    "AgentMemory.to_dict": lambda w: w.bob_agent().memory.to_dict(),
    "AgentMemory.update_summary": lambda w: w.bob_agent(
        memory=AgentMemory(create_session_summary=True)).memory.update_summary(),
    "AgentMemory.update_memories": lambda w: w.bob_agent(
        memory=AgentMemory(create_user_memories=True)).memory.update_memories(),
    "AgentMemory.catch_up_summary": lambda w: w.bob_agent(
        memory=AgentMemory(create_session_summary=True)).memory.catch_up_summary(),
    # phidata's storage and memory db
    "AgentStorage.read": lambda w: AgentStorage(w.store).read("ana_s", "bob"),
    "AgentStorage.read (no user)": lambda w: AgentStorage(w.store).read("ana_s"),
    "AgentStorage.get_all_session_ids": lambda w: AgentStorage(w.store).get_all_session_ids(),
    "AgentStorage.get_all_sessions": lambda w: AgentStorage(w.store).get_all_sessions("bob"),
    "AgentStorage.upsert": lambda w: AgentStorage(w.store).upsert(
        AgentStorage(w.store).read("ana_s", "ana").model_copy(update={"user_id": "bob"})),
    "AgentStorage.delete_session": lambda w: AgentStorage(w.store).delete_session(
        "ana_s", "bob"),
    "MemoryDb.read_memories": lambda w: MemoryDb(w.store).read_memories(),
    "MemoryDb.read_memories(bob)": lambda w: MemoryDb(w.store).read_memories("bob"),
    "MemoryDb.memory_exists": lambda w: MemoryDb(w.store).memory_exists(
        MemoryDb(w.store).read_memories("ana")[0].model_copy(update={"user_id": "bob"})),
    "MemoryDb.upsert_memory": lambda w: MemoryDb(w.store).upsert_memory(
        MemoryDb(w.store).read_memories("ana")[0].model_copy(
            update={"user_id": "bob", "memory": {"memory": "bob's now"}})),
    "MemoryDb.delete_memory": lambda w: MemoryDb(w.store).delete_memory(w.memory_id, "bob"),
    "MemoryDb.clear": lambda w: MemoryDb(w.store).clear("bob"),
    # the command line (migrate copies a whole file: its owner's, not a user's)
    "python -m jupyter_agentmem import-phidata": _cli_import_phidata,
}

# Entry points that reach no stored data of any user (said why), so need no probe.
NOT_DATA = {
    "Agent.add_chat_history_to_messages": "a flag",
    "Agent.effective_user_id": "the agent's own user",
    "Agent.store": "the store object itself, bound to the agent's user (probed through "
                   "every method above)",
    "AgentMemory.after_run": "queues work for a run the agent just stored",
    "AgentMemory.before_run": "waits for queued work",
    "AgentMemory.attach": "wiring",
    "AgentMemory.clear": "forgets in memory only",
    "AgentMemory.configured_user_id": "a setting",
    "AgentMemory.memory_store": "the store object, bound to the memory's user",
    "AgentMemory.session_store": "the store object, bound to the memory's user",
    "AgentMemory.owner": "the agent",
    "AgentMemory.recall": "a setting",
    "AgentMemory.reload": "a flag",
    "AgentMemory.session_id": "the agent's session id",
    "AgentMemory.user_id": "the agent's user",
    "AgentMemory.wait": "waits for queued work",
    "AgentStorage.default_table": "a name",
    "AgentStorage.scope": "wiring",
    "MemoryDb.default_table": "a name",
    "MemoryDb.scope": "wiring",
    "quickstart": "its own fresh database",
    "migrate": "copies a whole file: the file owner's command, no user's",
    "load_ipython_extension": "registers the magics",
    "unload_ipython_extension": "removes the magics",
    "OpenAIChat": "a model", "ModelError": "an error", "RunResponse": "a value",
    "Message": "a value", "DuckDbStore": "a store class (its calls are the contract)",
    "DuckDbAgentStorage": "AgentStorage on a file (probed as AgentStorage)",
    "DuckDbMemoryDb": "MemoryDb on a file (probed as MemoryDb)",
    "Agent": "probed by its methods", "AgentMemory": "probed by its members",
    "panel": "probed as panel()", "search": "probed as search()",
}


def _console():
    from rich.console import Console

    return Console(file=io.StringIO(), width=100)


def _entry_points() -> set[str]:
    found = {f"%agent {name}" for name in COMMANDS} | {"%%agent"}
    found |= set(jupyter_agentmem.__all__)
    for cls in (Agent, AgentMemory, AgentStorage, MemoryDb):
        found |= {f"{cls.__name__}.{n}" for n in vars(cls) if not n.startswith("_")}
    found |= {"quickstart", "migrate", "import-phidata"}
    return found


def _covered(entry: str) -> bool:
    if entry in NOT_DATA:
        return True
    if entry.startswith("%agent "):
        name = entry.removeprefix("%agent ")
        return any(p == name or p.startswith(name + " ") for p in PROBES)
    if entry == "import-phidata":
        return "python -m jupyter_agentmem import-phidata" in PROBES
    return any(p == entry or p.startswith(entry + " ") or p.startswith(entry + "(")
               for p in PROBES)


def test_every_entry_point_is_probed():
    missing = sorted(e for e in _entry_points() if not _covered(e))
    assert not missing, f"entry points with no ownership probe: {missing}"


@pytest.mark.parametrize("name", sorted(PROBES))
def test_bob_gets_a_refusal_or_nothing_of_anas(world, name):
    before = _ana_rows(world)
    asked = len(world.server.requests)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            result = PROBES[name](world)
        except REFUSALS as exc:
            result = f"refused: {exc}"
    from jupyter_agentmem import runtime

    assert runtime.idle(30)  # bob's background work, if any, is done before we look
    shown = [_shown(result), out.getvalue(), *world.seen,
             *(json.dumps(r["body"]) for r in world.server.requests[asked:])]
    for secret in SECRETS:
        assert not any(secret in text for text in shown), (name, secret, shown)
    after = _ana_rows(world)
    assert after == before, name  # ana's rows, every table, as they were


def test_the_probe_sees_anas_data_when_it_is_ana(world):
    """The check above could pass by accident if the probes saw nothing at all: ana,
    by the same ways in, sees her texts."""
    shown = [
        world.magic("history session=ana_s user=ana").to_string(),
        world.magic("memories user=ana").to_string(),
        world.magic("summary session=ana_s user=ana").to_string(),
        jupyter_agentmem.search(ANA_MESSAGE, user_id="ana", store=world.store).to_string(),
        json.dumps(AgentStorage(world.store).read("ana_s", "ana").memory),
    ]
    for secret in SECRETS:
        assert any(secret in text for text in shown), secret


def test_usage_by_session_lists_only_the_users_sessions(world):
    world.bob_agent(session="bob_s").run("bob's own words")
    table = world.magic("usage by=session user=bob")
    assert list(table["session_id"]) == ["bob_s"]
    mine = world.magic("usage by=session user=ana")
    assert list(mine["session_id"]) == ["ana_s"]


def test_bob_purging_himself_takes_what_he_wrote_anywhere(any_store_location):
    """Purge is by author: bob's run in a session nobody owned (written before ownership
    was checked, or a phidata session without a user) goes with his purge."""
    from jupyter_agentmem.types import Message, Run

    store = open_store(any_store_location)
    # A legacy session nobody owns, with a run of bob's in it (as older versions stored).
    with store.engine.transaction() as con:
        con.execute("INSERT INTO sessions (session_id, user_id, created_at, updated_at, "
                    "namespace) VALUES ('legacy', NULL, '2026-01-01', '2026-01-01', "
                    "'agent_sessions')")
    bob = store.as_user("bob")
    run = Run(session_id="legacy", messages=[Message(role="user", content="bob-text-123")])
    bob.append_run(run)
    with store.engine.transaction() as con:  # then the session went to ana (legacy data)
        con.execute("UPDATE sessions SET user_id = 'ana' WHERE session_id = 'legacy'")
    ana = store.as_user("ana")
    ana.append_run(Run(session_id="legacy", messages=[Message(role="user",
                                                              content="ana-text")]))
    counts = bob.purge()
    assert counts["runs"] == 1 and counts["messages"] == 1
    texts = [r["content"] for r in store.table_rows("messages")]
    assert "bob-text-123" not in texts and "ana-text" in texts


def test_a_turn_whose_session_was_taken_meanwhile_goes_to_a_session_of_its_writer(
        any_store_location):
    """bob starts a turn on a new id; ana takes the id while his model call is pending;
    bob's append is refused and his turn, kept in the process, is stored at the next
    append off the run cache: in a new session of bob's, never in ana's."""
    from jupyter_agentmem.types import Message, Run

    store = open_store(any_store_location)
    bob, ana = store.as_user("bob"), store.as_user("ana")
    run = Run(session_id="race", messages=[Message(role="user", content="bob-in-flight")])
    bob.stage_run(run)
    ana.append_run(Run(session_id="race", messages=[Message(role="user", content="ana's")]))
    run.messages.append(Message(role="assistant", content="reply"))
    with pytest.raises(StoreError, match="belongs to another user"):
        bob.append_run(run)
    store.engine.recent_runs.clear()  # the next append reads the database
    bob.append_run(Run(session_id="bob_s", messages=[Message(role="user", content="next")]))
    assert [r.message.content for r in ana.session_runs("race")] == ["ana's"]
    kept = [s for s in bob.list_sessions() if s["session_id"].startswith("race-kept-")]
    assert len(kept) == 1
    runs = bob.session_runs(kept[0]["session_id"])
    assert [r.message.content for r in runs] == ["bob-in-flight"]
    assert runs[0].status == "interrupted" and "taken by another user" in runs[0].error
    assert [h["session_id"] for h in bob.search("bob-in-flight")] == [kept[0]["session_id"]]
    assert ana.search("bob-in-flight") == []


def test_a_dead_processs_turn_in_a_taken_session_goes_to_its_writer(any_store_location):
    from turn_files import a_run, dead_writer, write_turn_file

    from jupyter_agentmem.types import Message, Run

    store = open_store(any_store_location)
    store.as_user("ana").append_run(Run(session_id="taken", messages=[
        Message(role="user", content="ana's")]))
    write_turn_file(store, dead_writer(), a_run("bob-dead-turn", "taken"), "bob")
    store.engine.recent_runs.clear()
    store.as_user("ana").append_run(Run(session_id="taken", messages=[
        Message(role="user", content="ana again")]))  # an append off the cache recovers
    ana_texts = [r.message.content for r in store.as_user("ana").session_runs("taken")]
    assert ana_texts == ["ana's", "ana again"]
    bob_sessions = store.as_user("bob").list_sessions()
    assert [s["session_id"].startswith("taken-kept-") for s in bob_sessions] == [True]


def test_an_import_naming_another_user_changes_nothing(any_store_location, tmp_path):
    """All or nothing: one foreign row refuses the whole file, bob's own rows too."""
    from jupyter_agentmem.store.archive import read_archive
    from jupyter_agentmem.types import Message, Run

    store = open_store(any_store_location)
    store.as_user("ana").append_run(Run(session_id="ana_s", messages=[
        Message(role="user", content="ana's")]))
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"table": "sessions", "row": {"session_id": "bob_new", "user_id": None}})
        + "\n" + json.dumps({"table": "memories", "row": {
            "memory_id": "m1", "user_id": "ana", "memory": "x", "topics": [],
            "created_at": "2026-01-01T00:00:00", "updated_at": "2026-01-01T00:00:00"}})
        + "\n")
    with pytest.raises(StoreError, match="another user"):
        store.as_user("bob").import_rows(read_archive(str(path)))
    assert store.as_user("bob").list_sessions() == []
    assert store.as_user("ana").user_memories() == []


def test_an_import_with_a_part_whose_body_is_not_its_hash_is_refused(any_store_location,
                                                                     tmp_path):
    """A request part is shared by hash: a crafted part would show its text in every
    later request that sends the real one."""
    import hashlib

    from jupyter_agentmem.store.archive import read_archive

    store = open_store(any_store_location)
    real = json.dumps({"role": "system", "content": "You are helpful."})
    path = tmp_path / "parts.jsonl"
    path.write_text(json.dumps({"table": "request_parts", "row": {
        "part_hash": hashlib.sha256(real.encode()).hexdigest(),
        "body": json.dumps({"role": "system", "content": "bob's words"})}}) + "\n")
    with pytest.raises(StoreError, match="does not match its part_hash"):
        store.as_user("bob").import_rows(read_archive(str(path)))
    assert store.table_rows("request_parts") == []


def test_delete_session_takes_its_search_rows(any_store_location):
    from jupyter_agentmem.types import Message, Run

    store = open_store(any_store_location).as_user("ana")
    store.append_run(Run(session_id="gone", messages=[
        Message(role="user", content="findable-word-4411")]))
    assert len(store.search("findable-word-4411")) == 1
    assert store.delete_session("gone")
    assert store.search("findable-word-4411") == []
    with store.engine.connection() as con:
        assert con.execute("SELECT count(*) FROM search_docs WHERE session_id = 'gone'"
                           ).fetchone() == (0,)


def test_the_search_function_stays_callable_after_the_magics_searched(shell, server):
    """``jupyter_agentmem.search`` is the function even after ``%agent search`` imported
    the module behind it (a module of that name would replace it on the package)."""
    shell.run_line_magic("agent", 'search "anything"')
    assert callable(jupyter_agentmem.search)
    db = shell.magics_manager.registry["AgentMagics"].db
    assert list(jupyter_agentmem.search("anything", store=db).columns)[:2] == ["score", "kind"]
