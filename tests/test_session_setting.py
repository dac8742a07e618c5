"""``%config AgentMagics.session = ...``: the session of cells and commands without
``session=`` (the quickstart starts one per run of the notebook with it)."""

from __future__ import annotations

import pytest
from IPython.utils.capture import capture_output
from model_server import roles_and_contents
from traitlets import TraitError

from jupyter_agentmem.store import DuckDbStore


def test_cells_and_commands_without_session_use_the_setting(shell, server, db_path):
    magics = shell.magics_manager.registry["AgentMagics"]
    kernel_session = magics.session_id
    assert kernel_session.startswith("nb-")
    shell.run_line_magic("config", "AgentMagics.session = 'run-1'")
    with capture_output() as out:
        shell.run_cell_magic("agent", "", "first")
        shell.run_cell_magic("agent", "", "second")
    assert "-- session run-1 · " in out.outputs[-1].data["text/plain"]
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "first"), ("assistant", "echo: first"), ("user", "second")]
    history = shell.run_line_magic("agent", "history")
    assert list(history["content"]) == ["first", "echo: first", "second", "echo: second"]
    # Empty again: the kernel's own session.
    shell.run_line_magic("config", "AgentMagics.session = ''")
    assert magics.session_id == kernel_session
    with capture_output():
        shell.run_cell_magic("agent", "", "third")
    store = DuckDbStore(db_path)
    assert sorted(s["session_id"] for s in store.list_sessions()) == sorted(
        ["run-1", kernel_session])
    store.close()


def test_a_session_setting_that_is_no_id_is_refused(shell):
    magics = shell.magics_manager.registry["AgentMagics"]
    with pytest.raises(TraitError, match="holds '\\\\n', which an id cannot hold"):
        magics.session = "a\nb"
    assert magics.session == ""
