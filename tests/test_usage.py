"""The usage ledger (every model call), %agent usage, and the per-kernel daily token budget."""

from __future__ import annotations

import sys

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from model_server import Reply

from jupyter_agentmem import runtime
from jupyter_agentmem.model.metered import tokens_today
from jupyter_agentmem.store import DuckDbStore

CELL = "session=u user=ana memories=on summary=on history=1"


def run_cells(shell, *cells: str, line: str = CELL) -> None:
    with capture_output():
        for cell in cells:
            shell.run_cell_magic("agent", line, cell)
    assert runtime.idle(30)


def test_every_call_chat_and_background_is_a_ledger_row(shell, server, db_path):
    server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "Ana likes tea.", "topics": ["drinks"]}}]), kind="memory")
    run_cells(shell, "I like tea", "and biscuits", "what do I like?")
    ledger = shell.run_line_magic("agent", "usage user=ana")
    chats = ledger[ledger["kind"] == "chat"]
    background = ledger[ledger["kind"] != "chat"]
    runs = DuckDbStore(db_path).session_runs("u")
    assert sorted(chats["run_id"]) == sorted(r.run_id for r in runs)
    assert list(chats["input_tokens"]) == [r.input_tokens for r in runs]
    # A memory call after each run; the summary only once runs leave the window.
    assert (background["kind"] == "memory").sum() == len(server.of("memory")) == 3
    assert (background["kind"] == "summary").sum() == len(server.of("summary"))
    assert background["run_id"].isin([r.run_id for r in runs]).all()
    assert (ledger["input_tokens"] > 0).all() and (ledger["output_tokens"] > 0).all()
    assert set(ledger["user_id"]) == {"ana"} and ledger["ok"].all()

    by_kind = shell.run_line_magic("agent", "usage by=kind user=ana").set_index("kind")
    assert by_kind.loc["chat", "calls"] == 3 and by_kind.loc["memory", "calls"] == 3
    assert by_kind["tokens"].sum() == ledger["input_tokens"].sum() + ledger[
        "output_tokens"].sum()
    assert list(shell.run_line_magic("agent", "usage by=session user=ana")["session_id"]) == ["u"]
    assert list(shell.run_line_magic("agent", "usage by=model user=ana")["model"]) == ["test-model"]
    assert len(shell.run_line_magic("agent", "usage by=day user=ana")) == 1


def test_a_failed_background_call_is_in_the_ledger(shell, server):
    server.script(Reply(status=500), kind="memory")
    with pytest.warns(Warning):
        run_cells(shell, "I like tea", line="session=f user=ana memories=on")
    ledger = shell.run_line_magic("agent", "usage user=ana")
    failed = ledger[ledger["kind"] == "memory"]
    assert len(failed) == 1 and not failed["ok"].iloc[0]


def test_the_budget_refuses_a_cell_before_anything_is_sent(shell, server, db_path):
    run_cells(shell, "first message", line="session=b user=ana")
    spent = tokens_today()
    assert spent > 0  # the chat call counted
    shell.run_line_magic("config", f"AgentMagics.budget_tokens = {spent + 5}")
    sent_before, runs_before = len(server.requests), len(DuckDbStore(db_path).session_runs("b"))
    with pytest.raises(UsageError, match="budget") as info:
        shell.run_cell_magic("agent", "session=b user=ana", "a message long enough " * 5)
    assert f"{spent:,}" in str(info.value) and "budget_tokens" in str(info.value)
    assert len(server.requests) == sent_before  # nothing was sent
    assert len(DuckDbStore(db_path).session_runs("b")) == runs_before  # nothing stored
    shell.run_line_magic("config", "AgentMagics.budget_tokens = 0")  # no budget
    run_cells(shell, "now it goes", line="session=b user=ana")


def test_background_work_counts_toward_the_budget(shell, server):
    before = tokens_today()
    run_cells(shell, "My name is Ana")  # memories and summary on
    memory_tokens = sum(r["kind"] == "memory" for r in server.requests)
    assert memory_tokens == 1
    ledger = shell.run_line_magic("agent", "usage user=ana")
    assert tokens_today() - before == int(ledger["input_tokens"].sum()
                                          + ledger["output_tokens"].sum())


def test_bad_budget_and_usage_options(shell, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        shell.run_line_magic("config", "AgentMagics.budget_tokens = -1")
    assert "budget_tokens must be >= 0" in caplog.text
    assert next(m for m in shell.configurables
                if type(m).__name__ == "AgentMagics").budget_tokens == 0
    with pytest.raises(UsageError, match="by='week' is not valid"):
        shell.run_line_magic("agent", "usage by=week")


def test_plot_draws_with_matplotlib_and_says_how_without(shell, server, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    run_cells(shell, "hello", line="session=p")
    import matplotlib.pyplot as plt

    plt.close("all")
    table = shell.run_line_magic("agent", "usage by=kind plot=on")
    assert list(table["kind"]) == ["chat"] and plt.get_fignums()
    plt.close("all")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(UsageError, match=r'pip install "jupyter_agentmem\[plot\]"'):
        shell.run_line_magic("agent", "usage plot=on")
