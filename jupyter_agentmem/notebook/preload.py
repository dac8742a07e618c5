"""After ``%load_ext``: what the first ``%%agent`` cell needs, loaded in a background thread.

*Measured* (bench/bench_cold.py, before this): imports were ~85% of a fresh kernel's
first ``%%agent`` cell (openai ~250-360 ms, since ``import openai`` loads all of
``openai.types``; ours ~150 ms; duckdb ~40 ms). ``%load_ext`` itself imports none of
them: it starts this thread, which imports them while the user reads or types.

Two parts, on one thread. First what the first cell needs (``steps``): our agent,
openai's chat client without its type catalogue (model/openai_sdk.py), duckdb. A cell
that comes sooner waits for that part (``wait``) before importing anything itself, so
the magics never import at the same time as the thread (two threads importing the
same modules in different orders can fail with a ``_DeadlockError``). Then, once the
kernel is idle, the rest (``later``: openai's packages completed, ~250 ms of CPU): with
Run All the first cell no longer waits for it (*measured*: 406 ms against 814, issue 17
point 3), and it starts only when no cell has run for ``IDLE_S``. A fork waits for both
(``before_fork``, from the runtime's fork hook): a child forked mid-import would inherit
a module lock held by a thread it does not have, and hang at its next import of that
module. Every wait is bounded: nothing hangs on the thread.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

Step = Callable[[], object]

CELL_WAIT_S = 60.0  # a cell waits at most this long, then imports what it needs itself
FORK_WAIT_S = 10.0
# A cell that starts while openai's packages are being completed waits this long at
# most (they take ~250 ms of CPU; a machine under load, longer).
LATER_WAIT_S = 10.0
# The thread starts importing this long after it is started, or as soon as someone
# waits for it: meanwhile the kernel sends the %load_ext cell's reply. Started at once,
# the thread held the interpreter while the kernel did that (*measured*, bench_cold.py,
# load 5-8: that cell's round trip 41-61 ms against 22-35 without the thread).
START_DELAY_S = 0.1
# The later steps (what no first cell needs: openai's type catalogue, ~250 ms of CPU)
# run when the kernel is idle: once the first cell after the thread's start has ended
# (or LATER_DELAY_S after the first steps when no cell came) and no cell has run for
# IDLE_S. *Measured* (bench_cold.py, Run All): run beside the cells after the first,
# they made those cells take 38-41 ms instead of 20. At once when a thread waits for a
# module lock (a cell importing openai waits for them) or someone waits for all of it.
LATER_DELAY_S = 1.0
IDLE_S = 0.3
POLL_S = 0.01

# What the first %%agent cell imports, whatever the model and database.
FIRST_CELL_MODULES = (
    "jupyter_agentmem.agent",
    "jupyter_agentmem.render",
    "jupyter_agentmem.notebook.memory_status",
    "jupyter_agentmem.model.demo",  # model=demo, a first cell's usual model (~5 ms)
)
# What a cell may import that a first cell usually does not: after it, with openai's rest.
LATER_MODULES = (
    "jupyter_agentmem.notebook.context",  # a cell with a {name}
)


class Preload:
    """``steps`` run in order, once, on one daemon thread (a ``runtime.Resource``); then
    ``later`` on the same thread, once the kernel is idle (``LATER_DELAY_S``)."""

    def __init__(self, steps: Iterable[Step], later: Iterable[Step] = ()) -> None:
        self._steps = list(steps)
        self._later = list(later)
        self._ready = threading.Event()  # the first steps are done: cells may run
        self._done = threading.Event()  # everything is done
        self._go = threading.Event()  # set: start importing now
        self._cell_running = threading.Event()
        # The later steps and a cell never run at once (``cell_started``): set under it.
        self._turns = threading.Lock()
        self._later_running = False
        self._hurry = threading.Event()  # someone waits for everything: at once
        self._cell_seen = False  # a cell started after this thread did
        self._cell_seen_ended = False  # ... and has ended
        self._thread: threading.Thread | None = None
        self.failures: list[str] = []  # for tests and debugging: the caller re-imports
        self.seconds: float | None = None  # how long the first steps took (bench_cold.py)
        self.later_seconds: float | None = None

    def start(self) -> Preload:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="agentmem-preload",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        self._go.wait(START_DELAY_S)
        start = time.perf_counter()
        try:
            self._run_steps(self._steps)
        finally:
            self.seconds = time.perf_counter() - start
            self._ready.set()
            try:
                if self._later:
                    while True:
                        needed = self._wait_for_later()
                        with self._turns:  # a cell that just started goes first...
                            if needed or not self._cell_running.is_set():
                                self._later_running = True  # (...unless it needs them)
                                break
                    start = time.perf_counter()
                    self._run_steps(self._later)
                    self.later_seconds = time.perf_counter() - start
            finally:
                self._done.set()

    def _wait_for_later(self) -> bool:
        """Until the kernel is idle (see ``LATER_DELAY_S``: False), or someone needs them
        (True): a wait for all of it, or a thread seen waiting for a module lock at two
        polls in a row (an import nobody contends registers for microseconds; one that
        waits for openai stays)."""
        start = time.monotonic()
        idle_since = start
        waiting: set[int] = set()
        while not self._hurry.wait(POLL_S):
            now = time.monotonic()
            if self._cell_running.is_set():
                idle_since = now
            first_cell_over = self._cell_seen_ended or now - start >= LATER_DELAY_S
            if first_cell_over and now - idle_since >= IDLE_S:
                return False
            waiting, before = _threads_waiting_for_an_import(), waiting
            if waiting & before:
                return True
        return True

    def _run_steps(self, steps: list[Step]) -> None:
        for step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 (the cell meets it again and says it)
                self.failures.append(f"{getattr(step, '__name__', step)}: {exc!r}")
                log.debug("preload step %r failed", step, exc_info=True)

    @property
    def done(self) -> bool:
        """Everything has been imported (the later steps too)."""
        return self._done.is_set()

    @property
    def ready(self) -> bool:
        """What the first cell needs has been imported."""
        return self._ready.is_set()

    def wait(self, timeout: float = CELL_WAIT_S) -> bool:
        """Until what the first cell needs is imported (``True``) or ``timeout`` passed
        (``False``). The later steps do not hold a cell up: nothing a cell imports is
        theirs (they complete openai's packages, which our code does not use)."""
        if self._thread is None or self._thread is threading.current_thread():
            return True
        self._go.set()
        return self._ready.wait(timeout)

    def wait_all(self, timeout: float) -> bool:
        """Until every step is done, the later ones started at once."""
        if self._thread is None or self._thread is threading.current_thread():
            return True
        self._go.set()
        self._hurry.set()
        return self._done.wait(timeout)

    # --- the shell's cells (IPython's pre_run_cell / post_run_cell) ----------------
    def cell_started(self, *_: object) -> None:
        """A cell starts. If openai's packages are being completed right now, it waits
        for that (~250 ms, once, bounded): user code importing a module of openai's
        while its package's ``__init__`` runs in this thread could meet Python's import
        deadlock detection (``_DeadlockError``) in one of the two threads."""
        self._cell_seen = True
        with self._turns:
            self._cell_running.set()
            completing = self._later_running and not self._done.is_set()
        if completing:
            self._done.wait(LATER_WAIT_S)

    def cell_ended(self, *_: object) -> None:
        self._cell_running.clear()
        if self._cell_seen:
            self._cell_seen_ended = True

    # --- runtime.Resource --------------------------------------------------------
    def idle(self, timeout: float) -> bool:
        return self.wait_all(timeout)

    def before_fork(self) -> None:
        # All of it: a child forked while openai's packages are held would hang at
        # its first import of openai (model/openai_sdk.py holds their module locks).
        if not self.wait_all(FORK_WAIT_S):
            log.warning("forking while the agent's background imports still run")

    def after_fork_in_child(self) -> None:
        self._ready.set()  # the thread is the parent's: nobody here waits for it
        self._done.set()

    def close(self) -> None:
        pass  # a daemon thread that only imports: nothing to stop or flush


def _threads_waiting_for_an_import() -> set[int]:
    """The threads (other than this one) waiting for a module lock: importlib's own
    record of who waits (``_blocking_on``). Unreadable (another Python's internals):
    every thread, so that the later steps never wait for idleness blindly."""
    me = threading.get_ident()
    try:
        from importlib import _bootstrap  # type: ignore[attr-defined]

        return {tid for tid in list(_bootstrap._blocking_on) if tid != me}
    except Exception:  # noqa: BLE001
        return {t.ident or 0 for t in threading.enumerate()} - {me}


def import_step(module: str) -> Step:
    def step() -> object:
        return importlib.import_module(module)

    step.__name__ = f"import {module}"
    return step


def first_cell_steps(location: Callable[[], str]) -> tuple[list[Step], list[Step]]:
    """(first, later): what the first cell will import (our modules, the model client,
    the database driver), and what completes openai afterwards.

    ``location`` is read in the thread (finding the database's location imports the
    store). Not ipywidgets, which DuckDB imports when it connects inside a kernel: our
    connections keep it from doing so (store/duckdb/progress_bar.py). openai's type
    catalogue is the later step: the client is imported without it
    (model/openai_sdk.py), then its packages are completed.
    """
    openai_import: list[Any] = []  # the PartialImport the later step completes

    def model_client() -> None:
        from ..model import openai_chat, openai_sdk

        partial = openai_sdk.PartialImport()
        openai_import.append(partial)
        partial.begin()
        openai_chat.preload()

    def database_driver() -> None:
        from ..store import registry

        registry.import_driver(location())

    def openai_whole() -> None:
        for partial in openai_import:
            partial.complete()

    model_client.__name__ = "the model client"
    database_driver.__name__ = "the database driver"
    openai_whole.__name__ = "the rest of openai"
    return ([*map(import_step, FIRST_CELL_MODULES), model_client, database_driver],
            [openai_whole, *map(import_step, LATER_MODULES)])
