"""After ``%load_ext``: what the first ``%%agent`` cell needs, loaded in a background thread.

*Measured* (bench/bench_cold.py, before this): imports were ~85% of a fresh kernel's
first ``%%agent`` cell (openai ~250-360 ms, since ``import openai`` loads all of
``openai.types``; ours ~150 ms; duckdb ~40 ms; ipywidgets ~40 ms, which DuckDB imports
when it connects inside a kernel, for its progress bar). ``%load_ext`` itself imports
none of them: it starts this thread, which imports them while the user reads or types.

A cell that comes sooner waits for the thread (``wait``) before importing anything
itself, so the magics never import at the same time as the thread (two threads
importing the same modules in different orders can fail with a ``_DeadlockError``).
A fork waits for it too (``before_fork``, from the runtime's fork hook): a child forked
mid-import would inherit a module lock held by a thread it does not have, and hang at
its next import of that module. Both waits are bounded: nothing hangs on the thread.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable

log = logging.getLogger(__name__)

Step = Callable[[], object]

CELL_WAIT_S = 60.0  # a cell waits at most this long, then imports what it needs itself
FORK_WAIT_S = 10.0
# The thread starts importing this long after it is started, or as soon as someone
# waits for it: meanwhile the kernel sends the %load_ext cell's reply. Started at once,
# the thread held the interpreter while the kernel did that (*measured*, bench_cold.py,
# load 5-8: that cell's round trip 41-61 ms against 22-35 without the thread).
START_DELAY_S = 0.1

# What the first %%agent cell imports, whatever the model and database.
FIRST_CELL_MODULES = (
    "jupyter_agentmem.agent",
    "jupyter_agentmem.render",
    "jupyter_agentmem.notebook.context",
    "jupyter_agentmem.notebook.memory_status",
    "jupyter_agentmem.model.demo",  # model=demo, a first cell's usual model (~5 ms)
)


class Preload:
    """``steps`` run in order, once, on one daemon thread (a ``runtime.Resource``)."""

    def __init__(self, steps: Iterable[Step]) -> None:
        self._steps = list(steps)
        self._done = threading.Event()
        self._go = threading.Event()  # set: start importing now
        self._thread: threading.Thread | None = None
        self.failures: list[str] = []  # for tests and debugging: the caller re-imports
        self.seconds: float | None = None  # how long it imported (bench/bench_cold.py)

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
            for step in self._steps:
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 (the cell meets it again and says it)
                    self.failures.append(f"{getattr(step, '__name__', step)}: {exc!r}")
                    log.debug("preload step %r failed", step, exc_info=True)
        finally:
            self.seconds = time.perf_counter() - start
            self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float = CELL_WAIT_S) -> bool:
        """Until the thread has finished (``True``) or ``timeout`` passed (``False``)."""
        if self._thread is None or self._thread is threading.current_thread():
            return True
        self._go.set()
        return self._done.wait(timeout)

    # --- runtime.Resource --------------------------------------------------------
    def idle(self, timeout: float) -> bool:
        return self.wait(timeout)

    def before_fork(self) -> None:
        if not self.wait(FORK_WAIT_S):
            log.warning("forking while the agent's background imports still run")

    def after_fork_in_child(self) -> None:
        self._done.set()  # the thread is the parent's: nobody here waits for it

    def close(self) -> None:
        pass  # a daemon thread that only imports: nothing to stop or flush


def import_step(module: str) -> Step:
    def step() -> object:
        return importlib.import_module(module)

    step.__name__ = f"import {module}"
    return step


def first_cell_steps(location: Callable[[], str]) -> list[Step]:
    """What the first cell will import: our modules, the model client, the database driver.

    ``location`` is read in the thread (finding the database's location imports the
    store). Not ipywidgets, which DuckDB imports when it connects inside a kernel: our
    connections keep it from doing so (store/duckdb/progress_bar.py).
    """

    def model_client() -> None:
        from ..model import openai_chat

        openai_chat.preload()

    def database_driver() -> None:
        from ..store import registry

        where = location()
        registry.import_driver(where)

    model_client.__name__ = "the model client"
    database_driver.__name__ = "the database driver"
    return [*map(import_step, FIRST_CELL_MODULES), model_client, database_driver]
