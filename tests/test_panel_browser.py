"""The panel in a real browser: JupyterLab on 127.0.0.1 + headless Debian Chromium.

A notebook runs ``%%agent`` against the scripted test server, then ``%agent panel``.
The test double-clicks a History cell and a Memories cell (the grid is a canvas: cells
are hit by coordinates), types new values, presses Enter, checks the DuckDB file, then
runs another ``%%agent`` cell and checks what the server received. Screenshots go to
tests/artifacts/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from model_server import Reply

from jupyter_agentmem.notebook.panel.grid import header_width
from jupyter_agentmem.notebook.panel.tabs import HistoryTab, MemoriesTab
from jupyter_agentmem.store import DuckDbStore
from jupyter_agentmem.types import Memory

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).parent / "artifacts"
VENV_BIN = Path(sys.executable).parent
TOKEN = "agentmem-browser-test"
ROW_HEADER = 64  # ipydatagrid base_row_header_size
ROW = 20  # base_row_size, also the column header height


def column_x(tab, column: str) -> int:
    """x where ``column`` starts in ``tab``'s grid (the widths the panel sets)."""
    widths = {c: max(tab.widths.get(c, 110), header_width(c)) for c in tab.columns}
    return ROW_HEADER + sum(widths[c] for c in tab.columns[:tab.columns.index(column)])


HISTORY_CONTENT_X = column_x(HistoryTab, "content")
MEMORY_X = column_x(MemoriesTab, "memory")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path) -> None:
    cells = [
        "%load_ext jupyter_agentmem\n%config AgentMagics.model = 'test-model'\n"
        "%config AgentMagics.max_retries = 0",
        "%%agent session=web user=ana memories=on\nMy name is Ana.",
        "%agent panel session=web user=ana",
        "%%agent session=web user=ana memories=on\nWhat do I drink?",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def lab(_server, tmp_path_factory):
    """A fresh JupyterLab (own settings, runtime and data dirs) talking to the test server."""
    base = tmp_path_factory.mktemp("lab")
    root, settings = base / "root", base / "settings"
    root.mkdir()
    # The news popup and update check would cover the notebook (and need the network).
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    db = base / "agentmem.duckdb"
    tmp = base / "tmp"  # the kernels' TMPDIR: notebooks/panel.ipynb makes its db there
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp),
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "OPENAI_BASE_URL": _server.base_url, "OPENAI_API_KEY": "sk-test-secret",
           "AGENTMEM_DB": str(db),
           "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTER_DATA_DIR": str(base / "data"),
           "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "IPYTHONDIR": str(base / "ipython")}
    port = free_port()
    log = open(base / "lab.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--port-retries=0", "--allow-root", f"--IdentityProvider.token={TOKEN}",
         "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: Run All, grid models
         f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}",
         f"--LabApp.workspaces_dir={base / 'workspaces'}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(f"{url}/api/status",
                                             headers={"Authorization": f"token {TOKEN}"})
                urllib.request.urlopen(req, timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" +
                                       (base / "lab.log").read_text()) from None
                time.sleep(0.3)
        yield {"url": url, "root": root, "db": str(db), "log": base / "lab.log", "tmp": tmp}
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-extensions",
                  "--no-first-run", "--disable-sync"])
        yield chromium
        chromium.close()


def read_file(db: str, fn):
    """Read the DuckDB file from this process, then hand it straight back to the kernel."""
    store = DuckDbStore(db).as_user("ana")  # the notebook's user
    try:
        return fn(store)
    finally:
        store.close()


def wait_for(page, check, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        # Not time.sleep: Playwright's sync API only delivers events (websockets) while
        # one of its calls runs.
        page.wait_for_timeout(250)


def wait_status(page, start: str) -> None:
    """Wait for the panel's status line to start with ``start`` and stay so (the browser
    echoes cells the kernel pushes: a refused echo would replace it)."""
    status = page.locator(".agentmem-status").first
    wait_for(page, lambda: status.inner_text().startswith(start), 30, f"status {start!r}")
    page.wait_for_timeout(1000)
    assert status.inner_text().startswith(start), status.inner_text()


def edit_cell(page, viewport, x: int, row: int, value: str) -> None:
    """Double-click a grid cell (canvas coordinates), type ``value``, press Enter."""
    box = viewport.bounding_box()
    page.mouse.dblclick(box["x"] + x + 40, box["y"] + ROW + row * ROW + ROW / 2)
    editor = page.locator(".lm-DataGrid-cellEditorInput")
    editor.wait_for(state="visible", timeout=10_000)
    editor.fill(value)
    editor.press("Enter")


def test_panel_edits_in_the_browser_reach_the_file_and_the_next_run(lab, server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    read_file(lab["db"], lambda s: s.as_user("ana").add_memory(
        Memory(user_id="ana", memory="Ana likes tea."), actor="model"))
    write_notebook(lab["root"] / "panel_test.ipynb")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    kernel_ws: list[str] = []
    page.on("websocket", lambda ws: kernel_ws.append(ws.url)
            if "/api/kernels/" in ws.url else None)
    try:
        page.goto(f"{lab['url']}/lab/tree/panel_test.ipynb?token={TOKEN}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        wait_for(page, lambda: kernel_ws, 60, "the kernel websocket")
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
            timeout=60_000)

        # Run the first three cells: load, one %%agent turn, the panel.
        page.locator(".jp-Cell .cm-content").first.click()
        for _ in range(3):
            page.keyboard.press("Shift+Enter")
        page.get_by_text("echo: My name is Ana.").first.wait_for(timeout=60_000)
        viewport = page.locator(".lm-DataGrid-viewport >> visible=true").first
        viewport.wait_for(timeout=60_000)
        page.get_by_text("ready").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # let the canvas paint before it is photographed and clicked
        viewport.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "panel_1_history.png"), full_page=True)

        # History: the first user message, edited in the grid.
        edit_cell(page, viewport, HISTORY_CONTENT_X, 0, "My name is Ana Silva.")
        wait_status(page, "saved message")
        stored = read_file(lab["db"], lambda s: [(r["content"], len(s.events(r["message_id"])))
                                                 for r in s.message_rows("web")])
        assert stored == [("My name is Ana Silva.", 1), ("echo: My name is Ana.", 0)]

        # Memories: the seeded memory, edited in the grid.
        page.locator(".lm-TabBar-tab", has_text="Memories").click()
        viewport = page.locator(".lm-DataGrid-viewport >> visible=true").first
        viewport.wait_for(timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "panel_2_memories.png"), full_page=True)
        edit_cell(page, viewport, MEMORY_X, 0, "Ana drinks coffee, not tea.")
        wait_status(page, "saved memory")
        memories = read_file(lab["db"],
                             lambda s: [m.memory for m in s.as_user("ana").user_memories()])
        assert memories == ["Ana drinks coffee, not tea."]
        events = read_file(lab["db"], lambda s: [(e["action"], e["actor"])
                                                 for e in s.as_user("ana").events()
                                                 if e["target"] == "memory"])
        assert events == [("add", "model"), ("update", "user")]  # stored once, no echo
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "panel_3_memory_edited.png"), full_page=True)

        # The next turn sends the edited history and the edited memory; its memory work
        # (on the kernel's background worker) adds a memory.
        server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
            "memory": "Ana drinks coffee in the morning.", "topics": ["drinks"]}}]),
            kind="memory")
        page.get_by_text("1 memory", exact=True).first.wait_for(timeout=10_000)
        chats_before = len(server.of("chat"))
        page.locator(".jp-Cell .cm-content").nth(3).click()
        page.keyboard.press("Shift+Enter")
        page.get_by_text("echo: What do I drink?").first.wait_for(timeout=60_000)
        wait_for(page, lambda: len(server.of("chat")) > chats_before, 30, "the next chat request")
        sent = server.of("chat")[-1]["messages"]
        assert [(m["role"], m["content"]) for m in sent[1:]] == [
            ("user", "My name is Ana Silva."), ("assistant", "echo: My name is Ana."),
            ("user", "What do I drink?")]
        assert sent[0]["role"] == "system"
        assert "- Ana drinks coffee, not tea." in sent[0]["content"]
        assert "Ana likes tea." not in sent[0]["content"]

        # The open panel refreshed itself after the background memory work...
        wait_for(page, lambda: page.get_by_text("2 memories").count() > 0, 30,
                 "the panel to show the memory the worker added")
        page.locator(".lm-TabBar-tab", has_text="Memories").click()
        page.locator(".agentmem-status").first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "panel_4_memory_added.png"), full_page=True)
        # ... and after the run: back on History, 4 rows.
        page.locator(".lm-TabBar-tab", has_text="History").click()
        wait_for(page, lambda: page.get_by_text("rows 1-4 of 4").count() > 0, 30,
                 "the panel to show the new run")
        page.locator(".agentmem-status").first.scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "panel_5_after_run.png"), full_page=True)
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "panel_failure.png"), full_page=True)
        print(Path(lab["log"]).read_text()[-5000:])
        raise
    finally:
        page.close()


# --- Run All of notebooks/panel.ipynb ---------------------------------------------------

PANEL_NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "panel.ipynb"
# The user events the notebook makes, in order: (target, action, new text or None).
NOTEBOOK_USER_EVENTS = [
    ("memory", "update", "The user lives in Lisbon."),  # set_cell_value on Memories
    ("message", "edit", "My name is Ana Silva."),       # set_cell_value on History
    # set_cell_value("memory", row, "   ") is refused: nothing stored
    ("memory", "update", "The user lives in Porto."),   # memories_tab.undo()
    ("memory", "delete", None),                         # memories_tab.delete(row)
    ("memory", "restore", None),                        # memories_tab.undo()
]

JS_NOTEBOOK_STATE = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.content || !nb.sessionContext || !nb.sessionContext.session
      || nb.context.path !== 'panel.ipynb') return null;
  const kernel = nb.sessionContext.session.kernel;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  return {status: kernel ? kernel.status : 'none',
          counts: cells.map(c => c.model.executionCount)};
}"""

# What the browser's grids hold (their data models, not the canvas), for ``column``.
JS_BROWSER_GRIDS = """async (column) => {
  const nb = window.jupyterapp.shell.currentWidget;
  let manager = null;
  for (const cell of nb.content.widgets) {
    for (const child of (cell.outputArea ? cell.outputArea.widgets : [])) {
      for (const w of (child.widgets || [])) {
        if (w._manager && w._manager.promise) manager = await w._manager.promise;
      }
    }
  }
  if (!manager) return null;
  const found = [];
  for (const promise of Object.values(manager._models)) {
    const model = await promise;
    if (model.get('_model_name') !== 'DataGridModel' || !model.data_model) continue;
    const data = model.data_model.dataset.data;
    if (data[column]) found.push(Array.from(data[column]));
  }
  return found;
}"""


def user_events(db: str) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """The ``user`` events in the file (target, action, new text) and ana's memories."""
    def read(store):
        events = sorted(store.table_rows("memory_events"),
                        key=lambda e: (e["created_at"], e["event_id"]))
        return events, [m.memory for m in store.as_user("ana").user_memories()]

    events, memories = read_file(db, read)
    found = []
    for e in events:
        if e["actor"] != "user":
            continue
        new = json.loads(e["new"]) if e["new"] else None
        text = new.get("memory", new.get("content")) if (
            e["action"] in ("update", "edit") and isinstance(new, dict)) else None
        found.append((e["target"], e["action"], text))
    return found, memories


JS_POLISH = """(panel) => {
  const visible = e => e.offsetParent !== null;
  const all = sel => [...panel.querySelectorAll(sel)].filter(visible);
  const top = name => {
    const b = all('button').find(b => b.textContent.trim() === name);
    return b ? Math.round(b.getBoundingClientRect().top) : null;
  };
  const editor = all('textarea')[0];
  let border = editor || all('.lm-DataGrid')[0];
  while (border && !border.classList.contains('widget-tab-contents')
         && !border.classList.contains('lm-TabPanel-stackedPanel')) border = border.parentElement;
  const width = name => {
    const b = all('button').find(b => b.textContent.trim() === name);
    return b ? b.getBoundingClientRect().width : 0;
  };
  return {tops: ['Refresh', 'Delete', 'Undo'].map(top),
          buttonWidths: ['Refresh', 'Delete', 'Undo'].map(width),
          grid: all('.lm-DataGrid')[0].getBoundingClientRect().height,
          editorRight: editor ? editor.getBoundingClientRect().right : null,
          borderRight: border ? border.getBoundingClientRect().right : null,
          exportLabel: all('.widget-label')
            .some(l => l.textContent === 'Export these rows to file')};
}"""


JS_HEADER = """(panel) => {
  const status = panel.querySelector('.agentmem-status');
  const header = status.parentElement.firstElementChild;
  const box = status.parentElement.parentElement.getBoundingClientRect();
  return {status: status.getBoundingClientRect().right,
          header: header.getBoundingClientRect().right, panel: box.right,
          statusTop: status.getBoundingClientRect().top,
          headerTop: header.getBoundingClientRect().top};
}"""


def check_polish(page, panel, tab: str, rows: int) -> None:
    """The visible tab's toolbar is one line, its grid as high as its rows, its detail
    editor inside the tab's border, its export box labelled."""
    got = panel.evaluate(JS_POLISH)
    assert len(set(got["tops"])) == 1 and None not in got["tops"], (tab, got)
    assert ROW * (rows + 1) + 20 <= got["grid"] <= ROW * (rows + 1) + 40, (tab, got)
    assert min(got["buttonWidths"]) >= 60, (tab, got)  # not squeezed to "Refre..."
    assert got["editorRight"] <= got["borderRight"], (tab, got)
    assert got["exportLabel"], (tab, got)


def test_run_all_of_the_panel_notebook_stores_only_its_own_edits(lab, browser):
    """Run All sends every cell at once: the browser's answers to the grid arrive after
    the last cell. They used to be taken for user edits (4 of 4 runs: a phantom
    "Lisbon" update after the restore, and a stale "Not saved" status)."""
    ARTIFACTS.mkdir(exist_ok=True)
    (lab["root"] / "panel.ipynb").write_bytes(PANEL_NOTEBOOK.read_bytes())
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    try:
        # A workspace of its own: only this notebook open, and it is the current one.
        page.goto(f"{lab['url']}/lab/workspaces/runall/tree/panel.ipynb?token={TOKEN}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        wait_for(page, lambda: (page.evaluate(JS_NOTEBOOK_STATE) or {}).get("status")
                 == "idle", 60, "an idle kernel")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        wait_for(page, lambda: all(c is not None for c in (
            page.evaluate(JS_NOTEBOOK_STATE) or {"counts": [None]})["counts"]),
            240, "Run All to finish")
        wait_for(page, lambda: (page.evaluate(JS_NOTEBOOK_STATE) or {}).get("status")
                 == "idle", 60, "the kernel to be idle")
        page.wait_for_timeout(8000)  # the browser's late answers arrive and are handled
        (db,) = sorted(lab["tmp"].glob("*/panel_demo.duckdb"))
        events, memories = user_events(str(db))
        assert events == NOTEBOOK_USER_EVENTS  # no phantom edit, none lost
        assert "The user lives in Porto." in memories  # what the notebook's output says
        status = page.locator(".agentmem-status").first.inner_text()
        assert status.startswith("exported"), status  # the last cell's, not a stale refusal
        assert page.evaluate(JS_BROWSER_GRIDS, "memory") == [memories]  # browser == file

        panel = page.locator(".jp-OutputArea-output", has=page.locator(".agentmem-status"))
        panel.first.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        panel.first.screenshot(path=str(ARTIFACTS / "runall_history.png"))
        page.locator(".lm-TabBar-tab", has_text="Memories").first.click()
        page.wait_for_timeout(800)
        panel.first.screenshot(path=str(ARTIFACTS / "runall_memories.png"))
        check_polish(page, panel.first, "Memories", rows=3)
        page.locator(".lm-TabBar-tab", has_text="Sessions").first.click()
        page.wait_for_timeout(800)
        panel.first.screenshot(path=str(ARTIFACTS / "runall_sessions.png"))
        assert panel.first.locator("textarea >> visible=true").count() == 0
        # A narrow window: the toolbar still on one line, the editor inside the border.
        page.set_viewport_size({"width": 1000, "height": 1100})
        page.locator(".lm-TabBar-tab", has_text="Memories").first.click()
        page.wait_for_timeout(1000)
        panel.first.scroll_into_view_if_needed()
        panel.first.screenshot(path=str(ARTIFACTS / "runall_memories_narrow.png"))
        check_polish(page, panel.first, "Memories", rows=3)
        # Narrower still: the header and the status line wrap, neither runs off the panel.
        page.set_viewport_size({"width": 560, "height": 1100})
        page.wait_for_timeout(1000)
        panel.first.screenshot(path=str(ARTIFACTS / "runall_header_560.png"))
        edges = panel.first.evaluate(JS_HEADER)
        assert max(edges["status"], edges["header"]) <= edges["panel"] + 1, edges
        assert edges["statusTop"] > edges["headerTop"], edges  # wrapped under the header
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "runall_failure.png"), full_page=True)
        print(Path(lab["log"]).read_text()[-5000:])
        raise
    finally:
        page.close()
