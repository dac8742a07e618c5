"""Cell-aware history in a real kernel through nbclient (issue 9, point 2).

nbclient sends no cell id; JupyterLab and Notebook 7 send ``metadata.cellId`` with each
execute request. ``CellIdClient`` sends it the way they do.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from model_server import Reply
from nbclient import NotebookClient
from nbclient.util import run_sync

from jupyter_agentmem.store import DuckDbStore


class CellIdClient(NotebookClient):
    """nbclient that sends each cell's id in the request metadata, like JupyterLab."""

    _cell_id: str | None = None

    async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                 store_history=True):
        self._cell_id = cell.get("id")
        return await super().async_execute_cell(cell, cell_index, execution_count,
                                                store_history)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()

        def execute(code, silent=False, store_history=True, user_expressions=None,
                    allow_stdin=None, stop_on_error=True):
            content = {"code": code, "silent": silent, "store_history": store_history,
                       "user_expressions": user_expressions or {}, "allow_stdin": False,
                       "stop_on_error": stop_on_error}
            msg = kc.session.msg("execute_request", content,
                                 metadata={"cellId": self._cell_id, "deletedCells": []})
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute
        return kc

    # nbclient binds its sync wrappers to its own coroutines: bind them to ours.
    execute_cell = run_sync(async_execute_cell)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)


def cell(source: str, cell_id: str, **metadata) -> nbformat.NotebookNode:
    node = nbformat.v4.new_code_cell(source, metadata=metadata)
    node["id"] = cell_id
    return node


def users(body) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def run_a_b_edit_a_c(server, tmp_path: Path, line: str):
    """Run A, B; edit A and run it again; run C. The chat requests, and the store."""
    db = str(tmp_path / "agentmem.duckdb")
    setup = ("%load_ext jupyter_agentmem\n%config AgentMagics.model = 'test-model'\n"
             "%config AgentMagics.history = 10\n%config AgentMagics.max_retries = 0")
    nb = nbformat.v4.new_notebook(cells=[
        cell(setup, "setup"),
        cell(f"%%agent {line}\nmessage A1", "cell-a"),
        cell(f"%%agent {line}\nmessage B", "cell-b"),
        cell(f"%%agent {line}\nmessage C", "cell-c"),
        cell("def f(x):\n    return 1 / x\nf(0)", "cell-err", tags=["raises-exception"]),
        cell(f"%%agent {line} history=0\nexplain {{Err}}", "cell-ask"),
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTMEM_"))}
    env.update(AGENTMEM_DB=db, OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-test-secret")
    client = CellIdClient(nb, timeout=60, kernel_name="python3",
                          resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env=env):
        for index in (0, 1, 2):
            client.execute_cell(nb.cells[index], index)
        nb.cells[1].source = f"%%agent {line}\nmessage A2"  # the user edits A ...
        client.execute_cell(nb.cells[1], 1)  # ... and runs it again
        for index in (3, 4, 5):
            client.execute_cell(nb.cells[index], index)
    for node in nb.cells[1:4] + nb.cells[5:]:
        assert not [o for o in node.outputs if o["output_type"] == "error"], node.outputs
    store = DuckDbStore(db)
    runs = {r.messages[0].content: r for r in store.session_runs("s")}
    store.close()
    return server.of("chat"), runs


def test_a_rerun_supersedes_the_cells_earlier_run(server, tmp_path):
    chats, runs = run_a_b_edit_a_c(server, tmp_path, "session=s")
    assert [users(b)[-1] for b in chats[:4]] == ["message A1", "message B", "message A2",
                                                "message C"]
    # A's re-run does not see its own old exchange; C sees the notebook as it now is.
    assert users(chats[2]) == ["message B", "message A2"]
    assert users(chats[3]) == ["message B", "message A2", "message C"]
    assert "echo: message A1" not in str(chats[3]["messages"])
    # The old run is kept, marked superseded by the new one; each run has its cell.
    old, new = runs["message A1"], runs["message A2"]
    assert old.superseded_by == new.run_id and new.superseded_by is None
    assert (old.cell_id, new.cell_id, runs["message B"].cell_id) == ("cell-a", "cell-a",
                                                                     "cell-b")
    # {Err} in a real kernel: the traceback of the cell that failed, as plain text.
    asked = users(chats[4])[-1]
    assert asked.startswith("explain Traceback (most recent call last):")
    assert "return 1 / x" in asked and asked.endswith("ZeroDivisionError: division by zero")
    assert "\x1b[" not in asked


def test_rerun_append_keeps_both(server, tmp_path):
    chats, runs = run_a_b_edit_a_c(server, tmp_path, "session=s rerun=append")
    assert users(chats[3]) == ["message A1", "message B", "message A2", "message C"]
    assert runs["message A1"].superseded_by is None


def test_a_failed_rerun_supersedes_nothing(shell, server, db_path):
    shell.kernel = None  # a plain shell has no kernel: give it a parent header instead
    shell.parent_header = {"metadata": {"cellId": "x1"}}
    shell.run_cell_magic("agent", "session=f", "first")
    server.script(Reply(status=500, content="down"))
    shell.run_cell_magic("agent", "session=f", "second")
    store = DuckDbStore(db_path)
    first, second = store.session_runs("f")
    store.close()
    assert second.status == "error" and first.superseded_by is None
    shell.run_cell_magic("agent", "session=f", "third")
    store = DuckDbStore(db_path)
    first, second, third = store.session_runs("f")
    store.close()
    assert first.superseded_by == third.run_id and first.cell_id == "x1"
    assert [m["content"] for m in server.of("chat")[-1]["messages"]] == ["third"]
    # %agent history (and the panel's History tab) shows the replaced runs as such.
    frame = shell.run_line_magic("agent", "history session=f columns=all")
    assert list(zip(frame["content"], frame["status"])) == [
        ("first", "superseded"), ("echo: first", "superseded"), ("second", "superseded"),
        ("third", "ok"), ("echo: third", "ok")]
    # A cell id from outside that is not a short string is ignored.
    shell.parent_header = {"metadata": {"cellId": "y" * 5000}}
    shell.run_cell_magic("agent", "session=g", "long id")
    store = DuckDbStore(db_path)
    assert store.session_runs("g")[0].cell_id is None
    store.close()


def test_the_panel_hides_superseded_runs_unless_asked(shell, server, db_path):
    from jupyter_agentmem.notebook.panel import panel

    shell.kernel = None
    shell.parent_header = {"metadata": {"cellId": "p1"}}
    shell.run_cell_magic("agent", "session=p", "old answer please")
    shell.run_cell_magic("agent", "session=p", "new answer please")  # the cell re-run
    shell.parent_header = {"metadata": {"cellId": "p2"}}
    shell.run_cell_magic("agent", "session=p", "next cell")
    p = panel(session_id="p", user_id="default", store=DuckDbStore(db_path))
    try:
        shown = list(p.history_tab.frame["content"])
        assert shown == ["new answer please", "echo: new answer please", "next cell",
                         "echo: next cell"]
        p.history_tab.show_superseded.value = True
        assert list(zip(p.history_tab.frame["content"], p.history_tab.frame["status"]))[:2] == [
            ("old answer please", "superseded"), ("echo: old answer please", "superseded")]
        assert len(p.history_tab.frame) == 6
    finally:
        p.close()
