"""openai's chat client imported without its type catalogue, then completed
(model/openai_sdk.py): the client works meanwhile, nobody ever sees a hollow package,
and the completed ``openai`` is the module a plain ``import openai`` gives.

Each case runs in a fresh interpreter (in this test process openai is imported already).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

# Describes openai's package modules and which openai modules are loaded: compared
# between a completed partial import and a plain one.
DESCRIBE = textwrap.dedent("""
    def describe():
        import sys
        out = {"modules": sorted(m for m in sys.modules
                                 if m == "openai" or m.startswith("openai."))}
        for name in ("openai", "openai.types", "openai.lib", "openai.types.responses",
                     "openai.types.chat"):
            module = sys.modules[name]
            out[name] = sorted(
                f"{key}:{type(value).__name__}:{getattr(value, '__module__', '')}"
                for key, value in vars(module).items()
                if key not in ("__builtins__", "__loader__", "__spec__", "__cached__")
                and (name, key) != ("openai", "resources"))
        # openai.resources: openai's lazy proxy of the module (as a plain import leaves
        # it until the first use) or the module itself (once a submodule of it is
        # imported after openai): the same resources either way.
        import openai
        out["resources"] = sorted(n for n in dir(openai.resources) if not n.startswith("_"))
        return out
    """)


def run_fresh(code: str, timeout: float = 120) -> dict:
    script = DESCRIBE + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def plain_import() -> dict:
    """A plain ``import openai``, then the client modules a first call imports (the chat
    resource is imported at its first use): what the partial import must end as."""
    return run_fresh("""
        import importlib, json
        import openai
        from jupyter_agentmem.model.openai_sdk import CLIENT_MODULES
        for name in CLIENT_MODULES:
            importlib.import_module(name)
        print(json.dumps(describe()))
    """)


def test_completed_partial_import_is_the_same_module_as_a_plain_import():
    partial = run_fresh("""
        import json, sys
        from jupyter_agentmem.model.openai_sdk import PartialImport
        p = PartialImport()
        p.begin()
        assert p.partial and p.failure is None, p.failure
        hollow = {n: "OpenAI" not in vars(sys.modules[n]) and "ChatModel" not in
                  vars(sys.modules[n]) for n in ("openai", "openai.types")}
        before = sorted(m for m in sys.modules if m.startswith("openai"))
        p.complete()
        import openai
        same = (openai.OpenAI is sys.modules["openai._client"].OpenAI
                and openai.types.ChatModel is not None
                and openai.lib.pydantic_function_tool is not None
                and openai.OpenAI.__module__ == "openai")
        print(json.dumps({"hollow": hollow, "before": before, "same": same,
                          "after": describe()}))
    """)
    assert partial["hollow"] == {"openai": True, "openai.types": True}
    # The first cell's openai: the client and chat types, none of the responses types.
    assert "openai._client" in partial["before"]
    assert "openai.resources.chat.completions.completions" in partial["before"]
    assert "openai.types.chat.chat_completion_chunk" in partial["before"]
    assert not any(m.startswith("openai.types.responses.response") for m in partial["before"])
    assert len(partial["before"]) < len(partial["after"]["modules"]) / 2
    assert partial["same"] is True
    assert partial["after"] == plain_import()


def test_the_client_streams_before_the_rest_is_imported(server):
    # The first cell's work, on the partial import: a whole and a streamed answer, an
    # error; it imports no module of openai's beyond those begin() loaded.
    result = run_fresh(f"""
        import json, sys
        from jupyter_agentmem.model.openai_sdk import PartialImport
        from jupyter_agentmem.model.openai_chat import OpenAIChat, describe_error
        p = PartialImport()
        p.begin()
        before = set(sys.modules)
        model = OpenAIChat(id="m", base_url={server.base_url!r}, api_key="sk-test-secret")
        whole = model.response([{{"role": "user", "content": "hi"}}]).content
        streamed = "".join(model.response_stream([{{"role": "user", "content": "hi"}}]))
        down = OpenAIChat(id="m", base_url="http://127.0.0.1:9/v1", api_key="k",
                          max_retries=0)
        try:
            down.response([{{"role": "user", "content": "hi"}}])
            error = None
        except Exception as exc:
            error = str(exc)
        new = sorted(m for m in set(sys.modules) - before if m.startswith("openai"))
        hollow = "OpenAI" not in vars(sys.modules["openai"])
        p.complete()
        print(json.dumps({{"whole": whole, "streamed": streamed, "error": error,
                          "new": new, "hollow": hollow}}))
    """)
    assert result["whole"] == "echo: hi"
    assert result["streamed"] == "echo: hi"
    assert "Could not reach the model server" in result["error"]
    assert result["new"] == []
    assert result["hollow"] is True  # all of it ran while openai was still partial


def test_other_threads_importing_openai_meanwhile_wait_and_get_the_whole_module():
    # Three threads import openai while its packages are hollow: each returns only once
    # they are complete (complete() had begun), with the whole module; one of them
    # first imports a submodule begin() did not load.
    result = run_fresh("""
        import json, sys, threading, time
        from jupyter_agentmem.model.openai_sdk import PartialImport
        p = PartialImport()
        began, completing = threading.Event(), threading.Event()
        finish = threading.Event()

        def background():  # begin and complete in one thread, as the preload does
            p.begin()
            began.set()
            finish.wait(30)
            completing.set()
            p.complete()

        seen = {}

        def plain():
            import openai
            seen["plain"] = [completing.is_set(), "OpenAI" in vars(openai),
                             hasattr(openai.types, "ChatModel")]

        def from_types():
            from openai.types import ChatModel
            seen["from_types"] = [completing.is_set(), ChatModel is not None]

        def submodule():
            import openai.types.batch
            seen["submodule"] = [completing.is_set(), "OpenAI" in vars(openai),
                                 hasattr(openai.types, "Batch")]

        owner = threading.Thread(target=background)
        owner.start()
        assert began.wait(60)
        users = [threading.Thread(target=f) for f in (plain, from_types, submodule)]
        for t in users:
            t.start()
        time.sleep(0.5)
        waiting = sorted(k for k in ("plain", "from_types", "submodule") if k not in seen)
        finish.set()
        for t in users + [owner]:
            t.join(60)
        print(json.dumps({"waiting": waiting, "seen": seen, "after": describe()}))
    """)
    assert result["waiting"] == ["from_types", "plain", "submodule"]
    assert result["seen"] == {"plain": [True, True, True], "from_types": [True, True],
                              "submodule": [True, True, True]}
    assert result["after"] == plain_import()


def test_a_failed_partial_import_imports_openai_whole():
    # A layout begin() does not expect (here: a client module that is not there) falls
    # back to completing the packages at once: a plain import.
    result = run_fresh("""
        import json, sys
        from jupyter_agentmem.model import openai_sdk
        openai_sdk.CLIENT_MODULES = (*openai_sdk.CLIENT_MODULES, "openai._not_a_module")
        p = openai_sdk.PartialImport()
        p.begin()
        import openai
        print(json.dumps({"failure": p.failure, "partial": p.partial,
                          "whole": hasattr(openai.types, "ChatModel"),
                          "after": describe()}))
    """)
    assert "openai._not_a_module" in result["failure"]
    assert result["partial"] is False and result["whole"] is True
    assert result["after"] == plain_import()


def test_openai_already_imported_is_left_as_it_is():
    result = run_fresh("""
        import json, sys
        import openai
        first = openai
        from jupyter_agentmem.model.openai_sdk import PartialImport
        p = PartialImport()
        p.begin()
        p.complete()
        import openai
        print(json.dumps({"same": openai is first, "partial": p.partial}))
    """)
    assert result == {"same": True, "partial": False}
