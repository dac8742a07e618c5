"""The panel, Python side: edits through ipydatagrid's own API reach the DuckDB file.

Browser edits are simulated with the exact comm message the ipydatagrid 1.4 frontend
sends (``{"event_type": "cell-changed", "row", "column_index", "value"}``), and the
frontend's answers are played as it plays them (FakeFrontend); what the DuckDB file
holds is read back by a separate process through the handover lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from IPython.utils.capture import capture_output
from model_server import roles_and_contents

from jupyter_agentmem import changes
from jupyter_agentmem.notebook.panel import AgentPanel, panel
from jupyter_agentmem.store import DuckDbStore
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary

READ_SQL = """
import json, sys
from jupyter_agentmem.store import DuckDbStore
store = DuckDbStore(sys.argv[1])
with store.engine.connection() as con:
    rows = con.execute(sys.argv[2], json.loads(sys.argv[3])).fetchall()
store.close()
print(json.dumps(rows, default=str))
"""


def in_other_process(db_path: str, sql: str, params: list | None = None) -> list:
    """Rows of ``sql`` as another process sees the file (it waits for the handover)."""
    out = subprocess.run([sys.executable, "-c", READ_SQL, db_path, sql, json.dumps(params or [])],
                         capture_output=True, text=True, timeout=60, check=True)
    return [tuple(r) for r in json.loads(out.stdout)]


class FakeFrontend:
    """Plays ipydatagrid 1.4's frontend for one grid: it records the cell-changed and
    row-changed messages the kernel sends and, like the real one, answers every
    cell-changed (never a row-changed) with a cell-changed message of its own. It
    connects as a browser does, asking for the widget's state (``request_state``)."""

    def __init__(self, grid, session: str | None = None) -> None:
        self.grid = grid
        self.session = session  # the Jupyter client session its messages carry
        self.sent: list[dict] = []
        self.pending: list[dict] = []
        original = grid.comm.send

        def send(data=None, metadata=None, buffers=None):
            content = (data or {}).get("content") or {}
            if (data or {}).get("method") == "custom" and content.get("event_type") in (
                    "cell-changed", "row-changed"):
                self.sent.append(content)
                if content["event_type"] == "cell-changed":
                    self.pending.append(content)
            return original(data=data, metadata=metadata, buffers=buffers)

        grid.comm.send = send
        self.message({"method": "request_state"})

    def message(self, data: dict) -> None:
        header = {"session": self.session} if self.session else {}
        self.grid._handle_msg({"header": header, "content": {"data": data}, "buffers": []})

    def shown(self, row: int, column: str):
        """The last value the kernel sent for one cell (``KeyError``: none sent)."""
        index = self.grid._column_name_to_index(column)
        for content in reversed(self.sent):
            if content["row"] != row:
                continue
            if content["event_type"] == "row-changed":
                return content["value"][index]
            if content["column_index"] == index:
                return content["value"]
        raise KeyError((row, column))

    def edit(self, row: int, column: str, value) -> None:
        """The user commits a cell editor (a cell-changed message), then the echoes settle."""
        self.deliver({"row": row, "column_index": self.grid._column_name_to_index(column),
                      "value": value})
        self.settle()

    def deliver(self, cell: dict) -> None:
        self.message({"method": "custom", "content": {
            "event_type": "cell-changed", "region": "body", "row": cell["row"],
            "column_index": cell["column_index"], "value": cell["value"]}})

    def settle(self) -> None:
        for _ in range(20):
            if not self.pending:
                return
            batch, self.pending = self.pending, []
            for cell in batch:
                self.deliver(cell)
        raise AssertionError("kernel and browser keep sending cells back and forth")


def frontend(grid) -> FakeFrontend:
    if not hasattr(grid, "_fake_frontend"):
        grid._fake_frontend = FakeFrontend(grid)
    return grid._fake_frontend


def browser_edit(grid, row: int, column: str, value) -> None:
    frontend(grid).edit(row, column, value)


def set_cell(grid, column: str, key, value) -> bool:
    """ipydatagrid's Python API, with the browser's echo of the change delivered."""
    fake = frontend(grid)
    ok = grid.set_cell_value(column, key, value)
    fake.settle()
    return ok


def browser_click(grid, row: int, column: str) -> None:
    frontend(grid)  # a browser is showing the grid
    grid._handle_msg({"content": {"data": {"method": "custom", "content": {
        "event_type": "cell-click", "region": "body", "column": column,
        "column_index": grid._column_name_to_index(column), "row": row,
        "primary_key_row": row, "cell_value": None}}}, "buffers": []})


def sent_to_browser(grid) -> list[dict]:
    return frontend(grid).sent


def shown_in_browser(grid, row: int, column: str):
    return frontend(grid).shown(row, column)


@pytest.fixture
def store(db_path):
    store = DuckDbStore(db_path).as_user("ana")  # the panel's user: ana
    for i in range(3):
        store.as_user("ana").append_run(Run(session_id="foo", model="m", messages=[
            Message(role="user", content=f"question {i}"),
            Message(role="assistant", content=f"answer {i}")]))
    store.add_memory(Memory(user_id="ana", memory="Ana likes tea.", topics=["drinks"]))
    store.add_memory(Memory(user_id="ana", memory="Ana lives in Porto.", topics=["home"]))
    store.add_summary(SessionSummary(session_id="foo", summary="Questions 0-2.",
                                     topics=["q"], through_run_seq=2))
    yield store
    store.close()


@pytest.fixture
def agent_panel(store):
    p = panel(session_id="foo", user_id="ana", store=store)
    yield p
    p.close()


def memory_row(p: AgentPanel, text: str) -> int:
    return list(p.memories_tab.frame["memory"]).index(text)


def test_tabs_show_what_is_stored(agent_panel):
    p = agent_panel
    assert [p.tabs.get_title(i) for i in range(4)] == ["History", "Memories", "Summaries",
                                                      "Sessions"]
    assert list(p.history.data["content"]) == [f"{k} {i}" for i in range(3)
                                               for k in ("question", "answer")]
    assert sorted(p.memories.data["memory"]) == ["Ana likes tea.", "Ana lives in Porto."]
    assert list(p.summaries.data["summary"]) == ["Questions 0-2."]
    assert list(p.sessions.data["session_id"]) == ["foo"]
    assert p.sessions.data["messages"].tolist() == [6]
    assert p.history.editable and p.memories.editable and not p.sessions.editable


def test_memory_edit_reaches_the_file(agent_panel, store, db_path):
    p = agent_panel
    row = memory_row(p, "Ana likes tea.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    assert set_cell(p.memories, "memory", row, "Ana likes green tea.")
    assert p.status.startswith("saved")
    store.close()  # hand the file to the reader process at once
    assert in_other_process(db_path, "SELECT memory FROM memories WHERE memory_id = ?",
                            [memory_id]) == [("Ana likes green tea.",)]
    assert in_other_process(
        db_path, "SELECT action, actor, old, new FROM memory_events WHERE target_id = ? "
        "ORDER BY created_at", [memory_id])[-1] == (
        "update", "user", json.dumps({"memory": "Ana likes tea.", "topics": ["drinks"]}),
        json.dumps({"memory": "Ana likes green tea.", "topics": ["drinks"]}))


def test_message_and_summary_edits_reach_the_file(agent_panel, store, db_path):
    p = agent_panel
    message_id = p.history_tab.frame.at[2, "message_id"]
    assert set_cell(p.history, "content", 2, "question ONE")  # index = position
    assert p.status.startswith("saved")
    assert p.history_tab.frame.at[2, "edited_at"] != ""  # shown at once
    assert set_cell(p.summaries, "summary", 0, "Three questions.")
    assert set_cell(p.summaries, "topics", 0, "q, numbers")
    store.close()
    assert in_other_process(db_path, "SELECT content, edited_at IS NOT NULL FROM messages "
                            "WHERE message_id = ?", [message_id]) == [("question ONE", True)]
    assert in_other_process(db_path, "SELECT summary, topics FROM summaries "
                            "WHERE session_id = 'foo'") == [("Three questions.", ["q", "numbers"])]
    actions = in_other_process(db_path, "SELECT target, action, actor FROM memory_events "
                               "WHERE actor = 'user' ORDER BY created_at")
    assert actions == [("message", "edit", "user"), ("summary", "edit", "user"),
                       ("summary", "edit", "user")]


def test_browser_edit_is_stored_once(agent_panel, store):
    p = agent_panel
    row = memory_row(p, "Ana lives in Porto.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    browser_edit(p.memories, row, "memory", "Ana lives in Lisbon.")
    assert p.status.startswith("saved")
    assert store.as_user("ana").get_memory(memory_id).memory == "Ana lives in Lisbon."
    # ipydatagrid's on_cell_change and our on_msg both see it: one write, one event.
    assert [e["action"] for e in store.events(target_id=memory_id)] == ["add", "update"]


def test_refused_edits_are_reverted_and_the_store_keeps_its_value(agent_panel, store):
    p = agent_panel
    row = memory_row(p, "Ana likes tea.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    sent = sent_to_browser(p.memories)
    assert not set_cell(p.memories, "memory", row, "   ")  # the panel refuses it
    assert p.status == "Not saved: a memory cannot be empty"
    assert p.memories.get_cell_value("memory", row) == ["Ana likes tea."]
    assert p.memories_tab.frame.at[row, "memory"] == "Ana likes tea."
    # The browser is sent the stored value, never the refused one.
    assert shown_in_browser(p.memories, row, "memory") == "Ana likes tea."
    assert "   " not in [c.get("value") for c in sent]
    assert store.as_user("ana").get_memory(memory_id).memory == "Ana likes tea."

    # A read-only column (ids, roles, timestamps) never reaches the store.
    hist_sent = sent_to_browser(p.history)
    browser_edit(p.history, 0, "role", "assistant")
    assert p.status == "Not saved: role is read-only"
    assert hist_sent[-1]["event_type"] == "row-changed" and hist_sent[-1]["row"] == 0
    assert shown_in_browser(p.history, 0, "role") == "user"
    assert p.history.get_cell_value("role", 0) == ["user"]
    assert store.message_rows("foo", 0, 1)[0]["role"] == "user"

    # A value that does not fit the column's dtype: ipydatagrid only logs it; the panel
    # refuses it and restores the cell.
    browser_edit(p.history, 1, "run_seq", "not a number")
    assert p.status == "Not saved: 'not a number' does not fit column 'run_seq'"
    assert shown_in_browser(p.history, 1, "run_seq") == 0
    assert p.history.get_cell_value("run_seq", 1) == [0]
    assert [e for e in store.events() if e["actor"] == "user"] == []


def test_undo_puts_back_the_previous_values(agent_panel, store):
    p = agent_panel
    row = memory_row(p, "Ana likes tea.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    message_id = p.history_tab.frame.at[1, "message_id"]
    set_cell(p.memories, "memory", row, "Ana likes coffee.")
    set_cell(p.memories, "topics", memory_row(p, "Ana likes coffee."), "drinks, mornings")
    set_cell(p.history, "content", 1, "a different answer")
    set_cell(p.summaries, "summary", 0, "Edited summary.")
    assert store.as_user("ana").get_memory(memory_id).topics == ["drinks", "mornings"]

    p.memories_tab.undo()
    assert p.status.startswith("undone")
    assert store.as_user("ana").get_memory(memory_id).topics == ["drinks"]
    assert store.as_user("ana").get_memory(memory_id).memory == "Ana likes coffee."
    p.memories_tab.undo()
    assert store.as_user("ana").get_memory(memory_id).memory == "Ana likes tea."
    assert "Ana likes tea." in list(p.memories.data["memory"])
    p.memories_tab.undo()
    assert p.status == "Nothing to undo in Memories."

    p.history_tab.undo()
    assert store.get_message(message_id)["content"] == "answer 0"
    assert p.history_tab.frame.at[1, "content"] == "answer 0"
    p.summaries_tab.undo()
    assert store.latest_summary("foo").summary == "Questions 0-2."
    # Undo itself is recorded: nothing is lost silently.
    assert [e["action"] for e in store.events(target_id=message_id)] == ["edit", "edit"]


def test_delete_is_soft_and_undoable(agent_panel, store, db_path):
    p = agent_panel
    row = memory_row(p, "Ana lives in Porto.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    browser_click(p.memories, row, "memory")
    assert p.memories_tab.detail.value == "Ana lives in Porto."
    p.memories_tab.delete_selected()
    assert p.status.startswith("deleted memory")
    assert list(p.memories.data["memory"]) == ["Ana likes tea."]
    assert [m.memory for m in store.as_user("ana").user_memories()] == ["Ana likes tea."]
    kept = store.as_user("ana").get_memory(memory_id)
    assert kept.memory == "Ana lives in Porto." and kept.deleted_at is not None

    p.memories_tab.show_deleted.value = True  # deleted rows can be looked at
    assert sorted(p.memories.data["memory"]) == ["Ana likes tea.", "Ana lives in Porto."]
    deleted_row = memory_row(p, "Ana lives in Porto.")
    assert not p.memories_tab.edit(deleted_row, "memory", "edit a deleted one")
    assert "deleted" in p.status

    p.memories_tab.undo()
    assert store.as_user("ana").get_memory(memory_id).deleted_at is None
    store.close()
    assert in_other_process(db_path, "SELECT memory, deleted_at FROM memories "
                            "WHERE memory_id = ?", [memory_id]) == [("Ana lives in Porto.", None)]


def test_add_memory_validates_and_undo_removes_it(agent_panel, store):
    p = agent_panel
    p.memories_tab.add_box.value = "  "
    p.memories_tab.add_from_box()
    assert p.status == "Not added: a memory cannot be empty"
    assert len(store.as_user("ana").user_memories()) == 2
    p.memories_tab.add_box.value = "Ana has a cat."
    p.memories_tab.add_from_box()
    assert p.status.startswith("added memory")
    added = [m for m in store.as_user("ana").user_memories() if m.memory == "Ana has a cat."]
    assert len(added) == 1 and "Ana has a cat." in list(p.memories.data["memory"])
    assert store.events(target_id=added[0].memory_id)[-1]["actor"] == "user"
    p.memories_tab.undo()
    assert [m.memory for m in store.as_user("ana").user_memories()] == ["Ana likes tea.",
                                                              "Ana lives in Porto."]


def test_row_deleted_by_another_process_is_refused(agent_panel, store, db_path):
    p = agent_panel
    row = memory_row(p, "Ana likes tea.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    store.close()
    subprocess.run([sys.executable, "-c", (
        "import sys; from jupyter_agentmem.store import DuckDbStore; "
        "s = DuckDbStore(sys.argv[1]).as_user('ana'); s.delete_memory(sys.argv[2], 'model'); "
        "s.close()"),
        db_path, memory_id], check=True, timeout=60)
    browser_edit(p.memories, row, "memory", "Ana likes black tea.")
    assert p.status == f"Not saved: memory {memory_id} was deleted"
    assert shown_in_browser(p.memories, row, "memory") == "Ana likes tea."
    assert p.memories_tab.frame.at[row, "memory"] == "Ana likes tea."
    kept = store.as_user("ana").get_memory(memory_id)
    assert kept.memory == "Ana likes tea." and kept.deleted_at is not None


def test_late_messages_after_a_refresh_are_not_edits(agent_panel, store):
    """What the browser sends back can arrive after a refresh moved the rows."""
    p = agent_panel
    fake = frontend(p.memories)
    row = memory_row(p, "Ana lives in Porto.")
    fake.deliver({"row": row, "column_index": p.memories._column_name_to_index("memory"),
                  "value": "Ana lives in Lisbon."})  # the user's edit; answers held back
    older = Memory(user_id="ana", memory="Ana was born in 1990.",
                   created_at=(store.as_user("ana").user_memories()[0].created_at
                               - timedelta(days=1)))
    store.add_memory(older, actor="model")  # sorts first: every row moves down one
    p.memories_tab.reload()
    assert p.memories_tab.frame.at[row, "memory"] == "Ana likes tea."
    fake.settle()  # (row, memory, "Ana lives in Lisbon.") arrives for what is now tea
    assert sorted(m.memory for m in store.as_user("ana").user_memories()) == [
        "Ana likes tea.", "Ana lives in Lisbon.", "Ana was born in 1990."]
    assert p.status.startswith("saved memory")


def user_events(store) -> list[tuple]:
    return [(e["target"], e["action"], json.loads(e["new"] or "{}").get("memory")
             if e["action"] == "update" else None)
            for e in store.events() if e["actor"] == "user"]


def test_run_all_stores_only_the_notebooks_edits(agent_panel, store):
    """notebooks/panel.ipynb under Run All: the browser's answers to what the kernel sent
    arrive only after every cell ran (comm messages queue behind the execute requests)."""
    p = agent_panel
    fakes = [frontend(p.memories), frontend(p.history)]
    row = memory_row(p, "Ana lives in Porto.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    assert p.memories.set_cell_value("memory", row, "Ana lives in Lisbon.")
    assert p.history.set_cell_value("content", 0, "question 0, edited")
    assert not p.memories.set_cell_value("memory", row, "   ")
    p.memories_tab.undo()
    p.memories_tab.delete(row)
    p.memories_tab.undo()
    p.say("the last cell's status")
    for fake in fakes:
        fake.settle()
    assert p.status == "the last cell's status"
    assert user_events(store) == [
        ("memory", "update", "Ana lives in Lisbon."), ("message", "edit", None),
        ("memory", "update", "Ana lives in Porto."), ("memory", "delete", None),
        ("memory", "restore", None)]
    assert store.as_user("ana").get_memory(memory_id).memory == "Ana lives in Porto."
    assert shown_in_browser(p.memories, 0, "memory_id") == p.memories_tab.frame.at[0,
                                                                                   "memory_id"]


def test_edit_made_before_a_refresh_lands_on_its_row(agent_panel, store):
    """The user commits a cell while the kernel replaces the grid's data (a run finished):
    the edit names a row of the data the browser showed, not of the new one."""
    p = agent_panel
    fake = frontend(p.memories)
    row = memory_row(p, "Ana lives in Porto.")
    older = Memory(user_id="ana", memory="Ana was born in 1990.",
                   created_at=(store.as_user("ana").user_memories()[0].created_at
                               - timedelta(days=1)))
    store.add_memory(older, actor="model")
    p.memories_tab.reload()  # every row moves down one; the browser has not seen it yet
    assert p.memories_tab.frame.at[row, "memory"] == "Ana likes tea."
    fake.deliver({"row": row, "column_index": p.memories._column_name_to_index("memory"),
                  "value": "Ana lives in Lisbon."})
    fake.settle()
    assert sorted(m.memory for m in store.as_user("ana").user_memories()) == [
        "Ana likes tea.", "Ana lives in Lisbon.", "Ana was born in 1990."]
    # Once the browser shows the new rows, its row numbers are the new ones.
    fake.edit(memory_row(p, "Ana likes tea."), "memory", "Ana likes green tea.")
    assert sorted(m.memory for m in store.as_user("ana").user_memories()) == [
        "Ana likes green tea.", "Ana lives in Lisbon.", "Ana was born in 1990."]
    # A click made before a refresh selects the row that was clicked, too.
    browser_click(p.memories, 0, "memory")
    assert p.memories_tab.detail.value == "Ana was born in 1990."
    store.as_user("ana").delete_memory(older.memory_id, actor="model")
    p.memories_tab.reload()
    browser_click(p.memories, 0, "memory")  # the browser still shows 1990 there
    assert p.memories_tab.selected is None
    fake.settle()
    browser_click(p.memories, 0, "memory")
    assert p.memories_tab.detail.value == "Ana likes green tea."


def test_two_browsers_on_one_panel(agent_panel, store):
    """Two browser windows on one kernel: each answers every barrier; neither answer
    is an edit, and each browser's edits use the rows that browser shows."""
    p = agent_panel
    a, b = FakeFrontend(p.memories, "session-a"), FakeFrontend(p.memories, "session-b")
    older = Memory(user_id="ana", memory="Ana was born in 1990.",
                   created_at=(store.as_user("ana").user_memories()[0].created_at
                               - timedelta(days=1)))
    store.add_memory(older, actor="model")
    p.memories_tab.reload()
    a.settle()  # a shows the new rows, b not yet
    index = p.memories._column_name_to_index("memory")
    a.deliver({"row": 2, "column_index": index, "value": "Ana lives in Lisbon."})
    b.deliver({"row": 0, "column_index": index, "value": "Ana likes green tea."})
    b.settle()
    a.settle()
    assert sorted(m.memory for m in store.as_user("ana").user_memories()) == [
        "Ana likes green tea.", "Ana lives in Lisbon.", "Ana was born in 1990."]
    assert len(user_events(store)) == 2


def test_detail_editor_saves_long_text(agent_panel, store):
    p = agent_panel
    long_text = "line one\n" + "x" * 5000
    browser_click(p.history, 3, "content")
    assert p.history_tab.detail.value == "answer 1"
    assert "run 1" in p.history_tab.detail_label.value
    p.history_tab.detail.value = long_text
    p.history_tab.save_detail()
    assert p.status.startswith("saved message") and p.status.endswith(": content")
    assert store.message_rows("foo", 3, 1)[0]["content"] == long_text
    assert p.history.get_cell_value("content", 3) == [long_text]


def test_edited_history_is_what_the_next_run_sends(shell, server, db_path):
    with capture_output():
        shell.run_cell_magic("agent", "session=foo user=ana", "My name is Ana.")
        shell.run_cell_magic("agent", "session=foo user=ana", "I live in Porto.")
    p = shell.run_line_magic("agent", "panel session=foo user=ana")
    try:
        assert isinstance(p, AgentPanel) and p.session_id == "foo" and p.user_id == "ana"
        rows = list(p.history.data["content"])
        assert rows == ["My name is Ana.", "echo: My name is Ana.", "I live in Porto.",
                        "echo: I live in Porto."]
        browser_edit(p.history, 2, "content", "I live in Lisbon.")
        assert p.status.startswith("saved")
        with capture_output():
            shell.run_cell_magic("agent", "session=foo user=ana", "Where do I live?")
        assert roles_and_contents(server.of("chat")[-1]) == [
            ("user", "My name is Ana."), ("assistant", "echo: My name is Ana."),
            ("user", "I live in Lisbon."), ("assistant", "echo: I live in Porto."),
            ("user", "Where do I live?")]
        # The run refreshed the open panel by itself.
        assert list(p.history.data["content"])[-2:] == ["Where do I live?",
                                                        "echo: Where do I live?"]
    finally:
        p.close()


def test_deleted_message_is_not_sent_and_undo_brings_it_back(shell, server, db_path):
    with capture_output():
        shell.run_cell_magic("agent", "session=foo user=ana", "My name is Ana.")
        shell.run_cell_magic("agent", "session=foo user=ana", "I live in Porto.")
    p = shell.run_line_magic("agent", "panel session=foo user=ana")
    try:
        p.history_tab.delete_selected()
        assert p.status == "Select a message to delete."
        message_id = p.history_tab.frame.at[1, "message_id"]
        browser_click(p.history, 1, "content")
        p.history_tab.delete_selected()
        assert p.status == f"deleted message {message_id} (Undo brings it back)"
        assert list(p.history.data["content"]) == ["My name is Ana.", "I live in Porto.",
                                                   "echo: I live in Porto."]
        with capture_output():
            shell.run_cell_magic("agent", "session=foo user=ana", "Where do I live?")
        assert roles_and_contents(server.of("chat")[-1]) == [
            ("user", "My name is Ana."), ("user", "I live in Porto."),
            ("assistant", "echo: I live in Porto."), ("user", "Where do I live?")]
        # Soft: kept with deleted_at set, recorded, and listed under "show deleted".
        kept = p.store.get_message(message_id)
        assert kept["content"] == "echo: My name is Ana." and kept["deleted_at"] is not None
        assert [(e["target"], e["action"], e["actor"]) for e in
                p.store.events(target_id=message_id)] == [("message", "delete", "user")]
        p.history_tab.show_deleted.value = True
        assert list(p.history.data["content"])[:2] == ["My name is Ana.",
                                                       "echo: My name is Ana."]
        assert p.history_tab.frame.at[1, "deleted_at"] != ""
        assert not p.history_tab.edit(1, "content", "edit a deleted one")
        assert p.status == (f"Not saved: message {message_id} is deleted "
                            "(undo the delete first)")
        p.history_tab.show_deleted.value = False

        p.history_tab.undo()
        assert p.status == f"undone: delete of message {message_id}"
        assert p.store.get_message(message_id)["deleted_at"] is None
        assert len(p.history_tab.frame) == 6
        with capture_output():
            shell.run_cell_magic("agent", "session=foo user=ana", "And my name?")
        assert roles_and_contents(server.of("chat")[-1])[:2] == [
            ("user", "My name is Ana."), ("assistant", "echo: My name is Ana.")]
    finally:
        p.close()


def test_deleted_summary_version_is_skipped_and_undoable(agent_panel, store, db_path):
    p = agent_panel
    store.add_summary(SessionSummary(session_id="foo", summary="A wrong summary.",
                                     through_run_seq=2))
    p.summaries_tab.reload()
    assert list(p.summaries.data["summary"]) == ["Questions 0-2.", "A wrong summary."]
    browser_click(p.summaries, 1, "summary")
    p.summaries_tab.delete_selected()
    assert p.status == "deleted summary version 2 (Undo brings it back)"
    assert list(p.summaries.data["summary"]) == ["Questions 0-2."]
    assert store.latest_summary("foo").summary == "Questions 0-2."
    p.summaries_tab.show_deleted.value = True
    assert list(p.summaries.data["version"]) == [1, 2]
    assert not p.summaries_tab.edit(1, "summary", "edit a deleted one")
    assert p.status == "Not saved: summary version 2 is deleted (undo the delete first)"
    store.close()  # the row as another process sees it: still there, deleted_at set
    assert in_other_process(db_path, "SELECT summary, deleted_at IS NOT NULL FROM summaries "
                            "WHERE session_id = 'foo' ORDER BY version") == [
        ("Questions 0-2.", False), ("A wrong summary.", True)]
    assert in_other_process(db_path, "SELECT target, action, actor FROM memory_events "
                            "WHERE target_id = 'foo#2' ORDER BY created_at") == [
        ("summary", "add", "model"), ("summary", "delete", "user")]

    p.summaries_tab.undo()
    assert p.status == "undone: delete of summary version 2"
    assert store.latest_summary("foo").summary == "A wrong summary."
    assert p.summaries_tab.frame.at[1, "deleted_at"] == ""


def test_edited_memory_is_in_the_next_system_prompt(shell, server, db_path):
    with capture_output():
        shell.run_cell_magic("agent", "session=s user=ana memories=on", "hello")
    store = DuckDbStore(db_path)
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana likes tea."), actor="model")
    p = panel(session_id="s", user_id="ana", store=store)
    try:
        assert set_cell(p.memories, "memory", 0, "Ana likes coffee, not tea.")
        with capture_output():
            shell.run_cell_magic("agent", "session=s user=ana memories=on", "drink?")
        system = server.of("chat")[-1]["messages"][0]
        assert system["role"] == "system"
        assert "- Ana likes coffee, not tea." in system["content"]
        assert "- Ana likes tea." not in system["content"]
    finally:
        p.close()


def test_refreshes_on_changes_from_another_thread(agent_panel, store, db_path):
    p = agent_panel
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana plays chess."), actor="model")
    store.as_user("bob").add_memory(Memory(user_id="bob", memory="Bob plays go."), actor="model")
    assert "Ana plays chess." not in list(p.memories.data["memory"])
    errors: list[BaseException] = []

    def notify() -> None:
        try:
            changes.notify(changes.Change("memories", "foo", "ana", db_path))
            changes.notify(changes.Change("memories", "foo", "ana", "/elsewhere.duckdb"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    worker = threading.Thread(target=notify)
    worker.start()
    worker.join(10)
    assert errors == []
    assert "Ana plays chess." in list(p.memories.data["memory"])
    assert "Bob plays go." not in list(p.memories.data["memory"])
    store.append_run(Run(session_id="foo", messages=[Message(role="user", content="q3")]))
    changes.notify(changes.Change("run", "foo", "ana", db_path))
    assert list(p.history.data["content"])[-1] == "q3"


def test_large_session_is_paged(db_path):
    store = DuckDbStore(db_path)
    for i in range(600):
        store.append_run(Run(session_id="big", messages=[
            Message(role="user", content=f"q{i}"), Message(role="assistant", content=f"a{i}")]))
    p = panel(session_id="big", store=store, page_size=100)
    try:
        h = p.history_tab
        assert len(p.history.data) == 100 and h.total == 1200
        assert list(p.history.data.index)[:2] == [1100, 1101]  # the newest page, numbered
        assert p.history.data["content"].iloc[-1] == "a599"
        assert h.page_label.value == "rows 1101-1200 of 1200"
        h.page("first")
        assert p.history.data["content"].iloc[0] == "q0"
        h.page("next")
        assert p.history.data["content"].iloc[0] == "q50"
        # An edit on a page lands on that page's message.
        assert set_cell(p.history, "content", 101, "edited a50")
        assert store.message_rows("big", 101, 1)[0]["content"] == "edited a50"
        # The filter searches the whole session, not the page.
        h.filter_box.value = "q59"
        assert sorted(p.history.data["content"]) == ["q59"] + [f"q{i}" for i in range(590, 600)]
        assert h.page_label.value == "rows 1-11 of 11 matching"
        h.filter_box.value = ""
        h.page("last")
        assert p.history.data["content"].iloc[-1] == "a599"
    finally:
        p.close()
        store.close()


def test_export_csv_and_parquet(agent_panel, tmp_path):
    p = agent_panel
    csv = p.history_tab.export(str(tmp_path / "history"), fmt="csv")
    assert csv.endswith("history.csv") and p.status.startswith("exported 6 rows")
    assert list(pd.read_csv(csv)["content"]) == list(p.history.data["content"])
    parquet = p.memories_tab.export(str(tmp_path / "memories.parquet"), fmt="parquet")
    con = duckdb.connect(":memory:")
    rows = con.execute("SELECT memory, topics FROM read_parquet(?) ORDER BY memory",
                       [parquet]).fetchall()
    con.close()
    assert rows == [("Ana likes tea.", "drinks"), ("Ana lives in Porto.", "home")]
    p.memories_tab.filter_box.value = "porto"
    p.memories_tab.export(str(tmp_path / "porto"), fmt="csv")
    assert list(pd.read_csv(tmp_path / "porto.csv")["memory"]) == ["Ana lives in Porto."]


def test_sessions_tab_loads_a_session(agent_panel, store):
    store.as_user("ana").append_run(Run(session_id="bar", messages=[Message(role="user",
                                                                            content="in bar")]))
    p = agent_panel
    p.sessions_tab.reload()
    row = list(p.sessions_tab.frame["session_id"]).index("bar")
    browser_click(p.sessions, row, "session_id")
    p.sessions_tab.open_selected()
    assert p.session_id == "bar" and p.user_id == "ana"
    assert list(p.history.data["content"]) == ["in bar"]
    assert list(p.memories.data["memory"]) == ["Ana likes tea.", "Ana lives in Porto."]
    assert p.summaries.data.empty
    assert p.status == "loaded session bar"


def test_the_panel_refuses_another_users_session(agent_panel, store):
    from jupyter_agentmem.store import StoreError

    store.as_user("bob").append_run(Run(session_id="bar", messages=[Message(role="user",
                                                                            content="in bar")]))
    store.as_user("bob").add_memory(Memory(user_id="bob", memory="Bob plays go."))
    p = agent_panel
    p.sessions_tab.reload()
    assert "bar" not in list(p.sessions_tab.frame["session_id"])  # not even listed
    p.load_session("bar")  # asked for by id all the same
    assert p.session_id == "foo" and p.user_id == "ana"  # stayed where it was
    assert "belongs to another user" in p.status and "bob" not in p.status
    assert "in bar" not in list(p.history.data["content"])
    assert "Bob plays go." not in list(p.memories.data["memory"])
    with pytest.raises(StoreError, match="belongs to another user"):
        panel(session_id="bar", user_id="ana", store=store)


def test_empty_database_and_default_session(tmp_path):
    store = DuckDbStore(str(tmp_path / "empty.duckdb"))
    p = panel(store=store)
    try:
        assert p.session_id is None and p.history.data.empty and p.memories.data.empty
        store.append_run(Run(session_id="first", messages=[Message(role="user", content="hi")]))
        changes.notify(changes.Change("run", "first", "default", store.path))
        assert p.session_id == "first" and list(p.history.data["content"]) == ["hi"]
    finally:
        p.close()
        store.close()


def test_import_stays_cheap():
    code = ("import sys, jupyter_agentmem; "
            "print(sorted(m for m in ('ipywidgets', 'ipydatagrid', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "[]"


def test_panel_notebook_runs_offline(tmp_path, monkeypatch):
    """notebooks/panel.ipynb, executed as a user would (the demo model, no server needed)."""
    import nbformat
    from nbclient import NotebookClient

    notebook = Path(__file__).parent.parent / "notebooks" / "panel.ipynb"
    nb = nbformat.read(str(notebook), as_version=4)
    # The kernelspec runs "python": this venv's.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    kernel_tmp = tmp_path / "kernel_tmp"  # where the notebook makes its demo database
    kernel_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(kernel_tmp))
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    # The kernel has stopped: the demo database and its exports went with it.
    assert list(kernel_tmp.rglob("panel_demo.duckdb*")) == []
    texts = ["\n".join((o.get("text") or "") + json.dumps(o.get("data", {}))
                       for o in c.get("outputs", [])) for c in nb.cells]
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert errors == []
    reply = next(t for t in texts if "You said: Where do I live?" in t)
    assert "the first was: My name is Ana Silva." in reply  # the edited history was sent
    assert "The user lives in Lisbon." in reply and "Porto" not in reply  # the edited memory
    assert any("Not saved: a memory cannot be empty" in t for t in texts)
    assert any("undone: delete of memory" in t for t in texts)
    assert any("application/vnd.jupyter.widget-view+json" in t for t in texts)


def test_package_panel_is_the_function_even_after_the_module_is_imported():
    import jupyter_agentmem
    import jupyter_agentmem.notebook.panel  # noqa: F401 (a submodule import must not shadow it)

    assert jupyter_agentmem.panel is panel and callable(jupyter_agentmem.panel)


WRITE_MEMORY = """
import sys, time
from jupyter_agentmem.store import open_store
store = open_store(sys.argv[1])
user, memory_id, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(n):
    store.as_user(user).update_memory(memory_id, f"Ana lives in city {i}.", None, "model")
    store.close()  # a DuckDB file: hand it over at once
    time.sleep(0.02)
"""


def change_memory_elsewhere(location: str, memory_id: str, n: int = 1) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITE_MEMORY, location, "ana", memory_id,
                             str(n)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def finished(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def test_topics_edit_does_not_revert_a_change_made_elsewhere(agent_panel, store, db_path):
    """The panel read the memory, another process changed its text, the panel edits its
    topics: the edit is refused with the current value shown (it used to write the old
    text back, say "saved" and record the change backwards); the next edit works."""
    p = agent_panel
    row = memory_row(p, "Ana lives in Porto.")
    memory_id = p.memories_tab.frame.at[row, "memory_id"]
    store.close()
    finished(change_memory_elsewhere(db_path, memory_id))
    assert not set_cell(p.memories, "topics", row, "home, city")
    assert p.status.startswith("Not saved: memory") and "Ana lives in city 0." in p.status
    (stored,) = [m for m in store.as_user("ana").user_memories() if m.memory_id == memory_id]
    assert (stored.memory, stored.topics) == ("Ana lives in city 0.", ["home"])
    row = memory_row(p, "Ana lives in city 0.")  # the grid shows the stored row now
    assert p.memories.data["memory"].iloc[row] == "Ana lives in city 0."
    assert set_cell(p.memories, "topics", row, "home, city")  # read again: saved
    (stored,) = [m for m in store.as_user("ana").user_memories() if m.memory_id == memory_id]
    assert (stored.memory, stored.topics) == ("Ana lives in city 0.", ["home", "city"])


def test_summary_and_message_edits_are_refused_when_changed_elsewhere(agent_panel, store):
    p = agent_panel
    store.edit_summary("foo", 1, "Changed by the model.", None, "model")
    assert not set_cell(p.summaries, "topics", 0, "new topic")
    assert "summary is now 'Changed by the model.'" in p.status
    assert [(s.summary, s.topics) for s in store.list_summaries("foo")] == [
        ("Changed by the model.", ["q"])]
    message_id = p.history_tab.frame.at[0, "message_id"]
    store.edit_message(message_id, "edited in another kernel")
    assert not set_cell(p.history, "content", 0, "edited in the panel")
    assert "content is now 'edited in another kernel'" in p.status
    assert store.get_message(message_id)["content"] == "edited in another kernel"
    assert p.history_tab.frame.at[0, "content"] == "edited in another kernel"


def test_topics_edits_while_another_process_changes_the_text(any_store_location):
    """A panel edits topics 20 times while another process changes the memory's text 20
    times: every change survives or is refused with the current value; no user edit
    touches the text; the last text is the other process's."""
    from jupyter_agentmem.store import open_store

    store = open_store(any_store_location)
    memory = store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana lives in Porto.",
                                     topics=["home"]))
    p = panel(session_id=None, user_id="ana", store=store)
    try:
        writer = change_memory_elsewhere(any_store_location, memory.memory_id, 20)
        saved, refused = [], 0
        for k in range(20):
            p.memories_tab.reload()
            if set_cell(p.memories, "topics", 0, f"home, t{k}"):
                saved.append(["home", f"t{k}"])
            else:
                assert p.status.startswith("Not saved: memory") and "is now" in p.status
                refused += 1
            store.close()
        finished(writer)
        assert saved and len(saved) + refused == 20
        final = store.as_user("ana").get_memory(memory.memory_id)
        assert final.memory == "Ana lives in city 19."  # the other process's last text
        assert final.topics == saved[-1]  # the panel's last saved topics
        user_events = [e for e in store.as_user("ana").events(target_id=memory.memory_id)
                       if e["actor"] == "user"]
        assert len(user_events) == len(saved)
        for e in user_events:  # a topics edit never wrote the text
            assert json.loads(e["old"])["memory"] == json.loads(e["new"])["memory"]
    finally:
        p.close()
        store.close()


PANEL_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=200),
    st.sampled_from(["'; DROP TABLE memories; --", "\x00", "\ud800", " ", "a" * 100_000,
                     "x\" OR 1=1 --", "{token} $name %s ?"]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(text=PANEL_TEXT, column=st.sampled_from(["memory", "topics"]))
@example(text="\ud800", column="memory")
@example(text="a\x00b", column="topics")
def test_any_panel_edit_is_stored_exactly_or_refused_cleanly(agent_panel, store, text, column):
    """Arbitrary text in a Memories cell: stored as given (topics: as parsed), or a "Not
    saved" status with the stored row unchanged; never an exception, never a partial write."""
    from jupyter_agentmem.notebook.panel.grid import parse_topics

    p = agent_panel
    p.memories_tab.reload()
    memory_id = p.memories_tab.frame.at[0, "memory_id"]
    before = store.as_user("ana").get_memory(memory_id)
    ok = set_cell(p.memories, column, 0, text)
    after = store.as_user("ana").get_memory(memory_id)
    if ok:
        assert p.status.startswith("saved") or after == before  # same value: nothing to do
        if column == "memory":
            assert (after.memory, after.topics) == (text, before.topics)
        else:
            assert (after.memory, after.topics) == (before.memory, parse_topics(text))
    else:
        assert p.status.startswith("Not saved: "), p.status  # not "Not done": a traceback
        assert after == before


def widgets_in(widget) -> list:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += widgets_in(child)
    return found


def test_the_panel_is_readable(agent_panel, store):
    """Headers fit their columns, the grid is as high as its rows, counts say "1 memory",
    the export box is labelled, Sessions has no empty text editor."""
    import ipywidgets as w

    from jupyter_agentmem.notebook.panel.grid import MAX_GRID_PX, header_width

    p = agent_panel
    for tab in p.all_tabs:
        widths = tab.grid.column_widths
        for column in tab.columns:
            assert widths[column] >= header_width(column) >= len(column) * 7, (tab, column)
    heights = {t.title: int(t.grid.layout.height.removesuffix("px")) for t in p.all_tabs}
    assert heights["History"] < 300 and heights["Memories"] < heights["History"]
    assert p.memories_tab.count_text() == "2 memories"
    assert p.sessions_tab.count_text() == "1 session"
    store.as_user("ana").delete_memory(p.memories_tab.frame.at[0, "memory_id"], "user")
    p.memories_tab.reload()
    assert p.memories_tab.count_text() == "1 memory"
    for i in range(30):
        store.append_run(Run(session_id="foo", model="m", messages=[
            Message(role="user", content=f"q{i}"), Message(role="assistant", content="a")]))
    p.history_tab.reload()
    assert p.history.layout.height == f"{MAX_GRID_PX}px"  # then it scrolls
    for tab in p.all_tabs:
        parts = widgets_in(tab.widget)
        labels = [x.value for x in parts if isinstance(x, w.Label)]
        assert "Export these rows to file" in labels
        has_editor = any(isinstance(x, w.Textarea) for x in parts)
        assert has_editor == (tab.text_column is not None), tab.title
        toolbar = tab.widget.children[0]
        assert toolbar.layout.flex_flow == "row nowrap"
