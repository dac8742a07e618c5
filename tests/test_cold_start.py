"""A fresh kernel's first cell: heavy imports in a background thread after %load_ext,
and no TLS setup for a plain-http model server.

Each case runs in a fresh interpreter (a subprocess): in this test process every module
is imported already. A meta-path finder records which thread first imported each heavy
module. Speed itself is measured in bench/bench_cold.py, never asserted here.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("openai", "pydantic", "duckdb", "pandas", "ipywidgets")

# Records the thread that first imports each heavy module; prints JSON at the end.
PRELUDE = "HEAVY = " + repr(HEAVY) + textwrap.dedent("""
    import json, os, sys, tempfile, threading, time
    importer = {}
    class Who:
        def find_spec(self, name, path=None, target=None):
            if name in HEAVY and name not in importer:
                importer[name] = threading.current_thread().name
            return None
    sys.meta_path.insert(0, Who())
    os.environ["AGENTMEM_DB"] = os.path.join(tempfile.mkdtemp(), "cold.duckdb")
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    """)


def run_fresh(code: str, timeout: float = 120) -> dict:
    out = subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_load_ext_returns_before_the_heavy_imports_which_run_in_the_background():
    result = run_fresh("""
        ip.run_line_magic("load_ext", "jupyter_agentmem")
        during_load_ext = dict(importer)
        from jupyter_agentmem import runtime
        preload = runtime.shared("jobs", "preload", lambda: None)
        assert preload.wait(60)
        print(json.dumps({"during": during_load_ext, "after": importer,
                          "failures": preload.failures}))
    """)
    # %load_ext imported none of them itself (the thread may have begun meanwhile).
    assert "MainThread" not in result["during"].values()
    assert result["failures"] == []
    after = result["after"]
    assert {after.get(m) for m in ("openai", "pydantic", "duckdb")} == {"agentmem-preload"}
    # Not needed by the first cell: never imported (ipywidgets only in a kernel, for DuckDB).
    assert "pandas" not in after and "ipywidgets" not in after


def test_loaded_in_a_cell_the_thread_starts_when_that_cell_has_run():
    # The rest of the %load_ext cell (more setup, more imports) runs without the thread.
    result = run_fresh("""
        ip.user_ns["importer"] = importer
        ip.run_cell("%load_ext jupyter_agentmem\\n"
                    "import threading\\n"
                    "during = [t.name for t in threading.enumerate()]\\n"
                    "imported_during = dict(importer)")
        from jupyter_agentmem import runtime
        preload = runtime.shared("jobs", "preload", lambda: None)
        assert preload.wait(60)
        print(json.dumps({"during": ip.user_ns["during"],
                          "imported_during": ip.user_ns["imported_during"],
                          "after": importer}))
    """)
    assert "agentmem-preload" not in result["during"]
    assert result["imported_during"] == {}
    assert result["after"].get("openai") == "agentmem-preload"


def test_with_preload_off_nothing_heavy_is_imported_until_a_cell_needs_it():
    result = run_fresh("""
        from traitlets.config import Config
        ip.config.AgentMagics.preload = False
        ip.run_line_magic("load_ext", "jupyter_agentmem")
        time.sleep(1.0)  # a background thread would have imported something by now
        print(json.dumps({"after": importer,
                          "threads": [t.name for t in threading.enumerate()]}))
    """)
    assert result["after"] == {}
    assert "agentmem-preload" not in result["threads"]


def test_a_cell_right_after_load_ext_waits_for_the_background_imports():
    # "Run all": the first %%agent cell starts while the thread is still importing. The
    # cell waits for it instead of importing the same modules at the same time.
    result = run_fresh("""
        ip.run_line_magic("load_ext", "jupyter_agentmem")
        ip.run_cell_magic("agent", "model=demo session=s", "hello there")
        from jupyter_agentmem.store import open_store
        from jupyter_agentmem.store.location import default_db_path
        runs = open_store(default_db_path(None)).session_runs("s")
        print(json.dumps({"after": importer,
                          "stored": [m.content for r in runs for m in r.messages][:1]}))
    """)
    assert result["stored"] == ["hello there"]
    assert {result["after"].get(m) for m in ("openai", "pydantic", "duckdb")} == {
        "agentmem-preload"}


def test_a_fork_during_the_background_imports_leaves_a_child_that_can_import():
    # A child forked while the thread holds a module's import lock would inherit the
    # lock held by a thread it does not have, and hang at its next import of that
    # module; the fork hook waits for the thread first.
    result = run_fresh("""
        ip.run_line_magic("load_ext", "jupyter_agentmem")
        pid = os.fork()
        if pid == 0:
            import openai, duckdb, jupyter_agentmem.agent
            os._exit(0)
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        print(json.dumps({"exit": os.waitstatus_to_exitcode(status) if done else "hung"}))
    """)
    assert result["exit"] == 0


def test_a_plain_http_model_server_needs_no_tls_setup(server, monkeypatch):
    from jupyter_agentmem import OpenAIChat

    loads: list[object] = []
    real = ssl.SSLContext.load_verify_locations

    def counted(self, *args, **kwargs):
        loads.append(args or kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counted)
    model = OpenAIChat(id="test-model", base_url=server.base_url, api_key="sk-test-secret",
                       max_retries=0, timeout=10)
    assert model.response([{"role": "user", "content": "hi"}]).content == "echo: hi"
    assert "".join(model.response_stream([{"role": "user", "content": "hi"}])) == "echo: hi"
    assert loads == []  # no CA bundle was loaded for http://127.0.0.1

    # An https request through the same client (a redirect) still gets a verified
    # transport: the CA bundle is loaded then, and nothing is sent unverified.
    with pytest.raises(Exception) as failed:  # noqa: B017,PT011 (nothing listens there)
        model.client.get("https://127.0.0.1:9/v1/models", cast_to=object)
    assert loads, failed.value
    https_model = OpenAIChat(id="m", base_url="https://127.0.0.1:9/v1", api_key="k" * 10)
    before = len(loads)
    https_model.check()
    assert len(loads) > before  # an https server's client is the SDK's own, verified


# In a real kernel (DuckDB imports ipywidgets only there), Run All: the %%agent cell right
# after %load_ext. A post_run_cell hook registered first sees sys.modules as the first
# cell left it, before the background imports' later steps begin.
FIRST_CELL_SNAPSHOT = textwrap.dedent("""
    import sys
    first_cell = {}
    def snapshot(result):
        if (result.info.raw_cell or "").startswith("%%agent") and not first_cell:
            first_cell["loaded"] = sorted(
                m for m in ("numpy", "ipywidgets", "openai.types.responses.response",
                            "jupyter_agentmem.notebook.context") if m in sys.modules)
            first_cell["openai_partial"] = "OpenAI" not in vars(sys.modules["openai"])
    get_ipython().events.register("post_run_cell", snapshot)
    """)

AFTERWARDS = textwrap.dedent("""
    import json
    from jupyter_agentmem import runtime
    assert runtime._shared[("jobs", "preload")].idle(60)  # all of it, the later steps too
    import openai
    whole = [hasattr(openai, "OpenAI"), hasattr(openai.types, "ChatModel"),
             hasattr(openai.lib, "pydantic_function_tool"),
             hasattr(openai.types.responses, "Response")]
    import duckdb
    bar = duckdb.connect(":memory:").execute(
        "SELECT current_setting('enable_progress_bar')").fetchall()[0][0]
    import ipywidgets
    import jupyter_agentmem
    panel = type(jupyter_agentmem.panel()).__name__
    import numpy
    hits = len(jupyter_agentmem.search("first question"))
    print(json.dumps({"first_cell": first_cell, "whole": whole, "bar": bar,
                      "widgets": "ipywidgets" in sys.modules, "panel": panel,
                      "hits": hits}))
    """)


def test_a_kernels_first_cell_imports_no_numpy_ipywidgets_or_openai_types(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(FIRST_CELL_SNAPSHOT),
        nbformat.v4.new_code_cell("%load_ext jupyter_agentmem"),
        nbformat.v4.new_code_cell("%%agent model=demo\nHello, a first question."),
        nbformat.v4.new_code_cell(AFTERWARDS),
    ])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTMEM_"))}
    env["AGENTMEM_DB"] = str(tmp_path / "agentmem.duckdb")
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env=env):
        for index, node in enumerate(nb.cells):
            client.execute_cell(node, index)
    stdout = "".join(o.get("text", "") for o in nb.cells[3].outputs if o["output_type"] == "stream")
    result = json.loads(stdout.splitlines()[-1])
    # The first cell ran on what it needs: no numpy (nothing to search), no ipywidgets
    # (our DuckDB connection has no progress bar), openai's chat client only.
    assert result["first_cell"] == {"loaded": [], "openai_partial": True}
    # Afterwards: openai whole, the user's DuckDB with its Jupyter progress bar (so
    # ipywidgets), the panel, and a search (numpy) all as before.
    assert result["whole"] == [True, True, True, True]
    assert result["bar"] is True and result["widgets"] is True
    assert result["panel"] == "AgentPanel"
    assert result["hits"] >= 1


def test_a_cell_importing_openai_right_after_load_ext_gets_the_whole_module():
    # User code, not the magics: `import openai` while the background thread may hold
    # openai's packages hollow (model/openai_sdk.py). It waits for them and gets the
    # whole module; then a %%agent cell works on the same classes.
    result = run_fresh("""
        ip.run_cell("%load_ext jupyter_agentmem")
        from jupyter_agentmem import runtime
        assert runtime.shared("jobs", "preload", lambda: None).wait(60)
        hollow = "OpenAI" not in vars(sys.modules["openai"])  # the later steps wait
        ip.run_cell("import openai\\n"
                    "whole = [hasattr(openai, 'OpenAI'), hasattr(openai.types, 'ChatModel'),"
                    " hasattr(openai.lib, 'pydantic_function_tool'),"
                    " hasattr(openai.types.responses, 'Response')]")
        ip.run_cell_magic("agent", "model=demo session=s", "hello there")
        model = next(iter(ip.find_magic("agent", "cell").__self__._models.values()))
        print(json.dumps({"hollow": hollow, "whole": ip.user_ns["whole"],
                          "same_client": isinstance(model.client,
                                                    ip.user_ns["openai"].OpenAI)}))
    """)
    assert result["hollow"] is True  # the cell came while openai was partial
    assert result["whole"] == [True, True, True, True]
    assert result["same_client"] is True


def test_ipywidgets_is_refused_to_our_duckdb_connect_only():
    # store/duckdb/progress_bar.py: inside the block, this thread cannot import
    # ipywidgets (DuckDB's connect then draws no progress bar); another thread can,
    # meanwhile; afterwards this one can too.
    result = run_fresh("""
        import threading
        from jupyter_agentmem.store.duckdb.progress_bar import without_widgets
        seen = {}
        def other():
            import ipywidgets
            seen["other"] = ipywidgets.__name__
        with without_widgets():
            try:
                import ipywidgets
                seen["inside"] = "imported"
            except ModuleNotFoundError as exc:
                seen["inside"] = exc.name
            t = threading.Thread(target=other)
            t.start()
            t.join(60)
        import ipywidgets
        seen["after"] = ipywidgets.FloatProgress.__name__
        print(json.dumps(seen))
    """)
    assert result == {"inside": "ipywidgets", "other": "ipywidgets", "after": "FloatProgress"}
