"""The Python API right after ``%load_ext`` never imports openai beside the background
imports: a module imported by two threads at once was seen half made ("cannot import
name ... from partially initialized module 'openai.types.chat'", an ``Agent.run`` right
after ``%load_ext``). The model waits for them first."""

from __future__ import annotations

import threading
import time

from jupyter_agentmem import runtime
from jupyter_agentmem.model import OpenAIChat
from jupyter_agentmem.notebook.preload import Preload


def test_the_model_client_waits_for_the_background_imports(server, monkeypatch):
    finished = threading.Event()

    def slow_import() -> None:  # stands for openai's import, still running
        time.sleep(0.5)
        finished.set()

    preload = Preload([slow_import])
    monkeypatch.setitem(runtime._shared, ("jobs", "preload"), preload)
    preload.start()
    OpenAIChat(id="m", base_url=server.base_url, api_key="k").client  # noqa: B018
    assert finished.is_set(), "the client was built while the background imports ran"

