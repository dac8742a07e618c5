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



def test_a_cell_never_runs_while_openais_packages_are_being_completed():
    # A cell importing one of openai's modules while this thread runs its package's
    # __init__ could meet Python's import deadlock detection: the cell waits instead.
    completing, finished = threading.Event(), []

    def later_step() -> None:
        completing.set()
        time.sleep(0.3)
        finished.append(True)

    preload = Preload([], [later_step]).start()
    preload.wait_all(0)  # (hurried: the later step starts without waiting for idleness)
    assert completing.wait(10)
    preload.cell_started()
    assert finished == [True]  # the cell started only once the packages were whole
    preload.cell_ended()
    assert preload.wait_all(10)


def test_later_steps_wait_for_a_running_cell():
    ran = threading.Event()
    preload = Preload([], [ran.set]).start()
    assert preload.wait(10)
    preload.cell_started()  # a cell that runs for longer than the idle time
    assert not ran.wait(1.5)
    preload.cell_ended()
    assert ran.wait(10)
