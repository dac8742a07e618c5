"""Memories and summaries from the notebook: magic options, inspection, forgetting, timing."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from model_server import Reply

from jupyter_agentmem import changes, runtime
from jupyter_agentmem.store import DuckDbStore


def add(memory: str) -> Reply:
    return Reply(tool_calls=[{"name": "add_memory", "arguments": {"memory": memory,
                                                                 "topics": ["t"]}}])


def test_reply_is_shown_before_memory_work_finishes(shell, server):
    order: list[str] = []
    unsubscribe = changes.subscribe(lambda change: order.append("stored " + change.kind)
                                   if change.kind in ("memories", "summary") else None)
    try:
        server.script(Reply(content=None, delay=0.5, tool_calls=[
            {"name": "add_memory", "arguments": {"memory": "Ana likes tea.", "topics": []}}]),
            kind="memory")
        server.script(Reply(content='{"summary": "tea talk", "topics": []}', delay=0.5),
                      kind="summary")
        with capture_output() as out:
            # history=0: the next prompt carries the summary alone, so it follows each run.
            shell.run_cell_magic("agent", "session=s user=ana memories=on summary=on history=0",
                                 "I like tea")
            order.append("cell done")
            texts = [o.data["text/plain"] for o in out.outputs]
            assert "echo: I like tea" in texts[-2]
            assert texts[-1] == "memory: updating memories…"
            assert runtime.idle(10)
        # The status line under the reply was updated in place by the worker.
        assert out.outputs[-1].data["text/plain"] == "memory: memories +1 · summary v1"
    finally:
        unsubscribe()
    assert order == ["cell done", "stored memories", "stored summary"]


def test_next_run_waits_for_fresh_memories(shell, server):
    server.script(Reply(delay=0.4, tool_calls=[
        {"name": "add_memory", "arguments": {"memory": "Ana likes tea.", "topics": []}}]),
        kind="memory")
    with capture_output():
        shell.run_cell_magic("agent", "session=s user=ana memories=on", "I like tea")
        shell.run_cell_magic("agent", "session=s user=ana memories=on", "what do I like?")
    system = server.of("chat")[-1]["messages"][0]
    assert system["role"] == "system" and "- Ana likes tea." in system["content"]


def test_memories_and_summary_subcommands_return_dataframes(shell, server, db_path):
    server.script(add("Ana likes tea."), kind="memory")
    server.script(Reply(content='{"summary": "tea talk", "topics": ["tea"]}'), kind="summary")
    with capture_output():
        shell.run_cell_magic("agent", "session=s user=ana memories=on summary=on", "I like tea")
    runtime.idle(10)
    memories = shell.run_line_magic("agent", "memories user=ana")
    assert list(memories["memory"]) == ["Ana likes tea."]
    assert shell.run_line_magic("agent", "memories user=bob").empty
    summary = shell.run_line_magic("agent", "summary session=s user=ana")
    assert list(summary["summary"]) == ["tea talk"] and list(summary["version"]) == [1]


def test_forget_one_memory_and_all_of_a_user(shell, server, db_path):
    store = DuckDbStore(db_path)
    server.script(Reply(tool_calls=[
        {"name": "add_memory", "arguments": {"memory": "Ana likes tea.", "topics": []}},
        {"name": "add_memory", "arguments": {"memory": "Ana lives in Porto.", "topics": []}}]),
        kind="memory")
    server.script(add("Bob likes coffee."), kind="memory")
    with capture_output():
        shell.run_cell_magic("agent", "session=a user=ana memories=on", "facts")
        runtime.idle(10)
        shell.run_cell_magic("agent", "session=b user=bob memories=on", "facts")
        runtime.idle(10)
    tea = store.as_user("ana").user_memories()[0].memory_id
    shell.run_line_magic("agent", f"forget memory_id={tea} user=ana")
    assert [m.memory for m in store.as_user("ana").user_memories()] == ["Ana lives in Porto."]
    with pytest.raises(UsageError, match="confirm=yes"):
        shell.run_line_magic("agent", "forget user=ana")
    assert len(store.as_user("ana").user_memories()) == 1  # nothing forgotten without confirm
    shell.run_line_magic("agent", "forget user=ana confirm=yes")
    assert store.as_user("ana").user_memories() == []
    assert [m.memory for m in store.as_user("bob").user_memories()] == ["Bob likes coffee."]
    deleted = store.as_user("ana").user_memories(include_deleted=True)
    assert len(deleted) == 2 and all(m.deleted_at is not None for m in deleted)
    with pytest.raises(UsageError, match="does not exist"):
        shell.run_line_magic("agent", f"forget memory_id={tea} user=bob")


@pytest.mark.parametrize("line", ["memories=maybe", "summary=2"])
def test_bad_memory_options_are_usage_errors(shell, line):
    with pytest.raises(UsageError, match="on or"):
        shell.run_cell_magic("agent", line, "hi")


def test_failed_memory_work_shows_as_a_warning_in_the_cell(shell, server):
    import warnings

    server.script(Reply(status=500, content="memory backend down"), kind="memory")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with capture_output() as out:
            shell.run_cell_magic("agent", "session=s user=ana memories=on", "I like tea")
            assert runtime.idle(10)
        texts = [o.data["text/plain"] for o in out.outputs]
        assert any("echo: I like tea" in t for t in texts)
        status = texts[-1]
        assert status.startswith("memory: ⚠ Updating user memories failed")
        assert "500" in status
        # ...and once more, on stderr, at the start of the next cell.
        with capture_output() as nxt:
            shell.run_cell_magic("agent", "session=s user=ana", "next")
    assert "Updating user memories failed" in nxt.stderr
    assert "echo: next" in nxt.outputs[-1].data["text/plain"]
