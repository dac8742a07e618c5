"""The background worker: memory and summary work off the reply's critical path.

One thread per process runs jobs in order. A job is keyed by the session and user
it touches; the next run of that session or user waits (bounded) until the job is
done, so it always sees fresh memories. A failing job becomes a warning, never a
lost reply.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from .. import events

if TYPE_CHECKING:
    from ..model import OpenAIChat
    from ..types import Run
    from .agent_memory import AgentMemory

log = logging.getLogger(__name__)
Key = tuple[str, str]
Job = Callable[[], "str | None"]  # returns a one-line outcome, or None for "nothing changed"
Outcome = Callable[[str, bool], None]  # (text, ok): e.g. a status line in the cell


class MemoryWorkWarning(UserWarning):
    """Background memory work failed; the reply and the stored run are unaffected."""


class MemoryWorker:
    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[set[Key], Job, str, Outcome | None]] = queue.Queue()
        self._pending: Counter[Key] = Counter()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.failures: list[str] = []  # drained by the magic, shown in the notebook

    def submit(self, keys: set[Key], job: Job, what: str,
               on_outcome: Outcome | None = None) -> None:
        with self._cond:
            self._pending.update(keys)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="agentmem-memory",
                                                daemon=True)
                self._thread.start()
        self._jobs.put((keys, job, what, on_outcome))

    def _loop(self) -> None:
        while True:
            keys, job, what, on_outcome = self._jobs.get()
            try:
                try:
                    outcome, ok = job(), True
                except Exception as exc:  # noqa: BLE001 (reported, never raised into a run)
                    outcome, ok = f"{what} failed: {exc}", False
                    self.report(outcome)
                if on_outcome is not None:
                    on_outcome(outcome or "", ok)
            except Exception:  # noqa: BLE001 (warnings-as-errors, a display problem...)
                log.exception("memory work bookkeeping failed")
            finally:
                # Whatever happened, the job is over: runs waiting on these keys go on.
                with self._cond:
                    self._pending.subtract(keys)
                    self._pending = +self._pending  # drop zero counts
                    self._cond.notify_all()

    def report(self, message: str) -> None:
        """A problem in background work: logged, warned, and shown at the next cell."""
        log.debug(message)
        self.failures.append(message)
        try:
            warnings.warn(message, MemoryWorkWarning, stacklevel=2)
        except Exception:  # noqa: BLE001 (warnings turned into errors: the list has it)
            log.debug("warning not shown", exc_info=True)

    def wait_for(self, keys: set[Key], timeout: float) -> bool:
        """Wait until no job touching ``keys`` is pending; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while any(self._pending[k] for k in keys):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def idle(self, timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while +self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def drain_failures(self) -> list[str]:
        out, self.failures = self.failures, []
        return out


_worker: MemoryWorker | None = None
_worker_guard = threading.Lock()


def _fresh_worker_in_child() -> None:
    # A forked child inherits the parent's pending counts but not its thread.
    global _worker, _worker_guard
    _worker, _worker_guard = None, threading.Lock()


def _finish_at_exit() -> None:
    # Let queued memory work store its results before the databases close (this
    # handler is registered after the store's, so it runs before it).
    if _worker is not None:
        _worker.idle(timeout=10)


os.register_at_fork(after_in_child=_fresh_worker_in_child)
atexit.register(_finish_at_exit)


def worker() -> MemoryWorker:
    global _worker
    with _worker_guard:
        if _worker is None:
            _worker = MemoryWorker()
        return _worker


def queue_memory_work(memory: AgentMemory, run: Run, user_id: str, model: OpenAIChat) -> None:
    """Queue what the memory flags ask for after ``run``."""
    if memory.create_user_memories and memory.update_user_memories_after_run:
        from .user_memories import update_user_memories

        def memories_job() -> str | None:
            update = update_user_memories(memory.memory_store, model, run, user_id,
                                          classify=memory.classify_memories)
            for problem in update.skipped:
                worker().report(f"Skipped a memory change the model asked for: {problem}")
            if update.changed:
                events.notify(events.Change("memories", run.session_id, user_id,
                                            getattr(memory.memory_store, "path", None)))
            return update.describe()

        worker().submit({("user", user_id)}, memories_job, "Updating user memories",
                        memory.on_outcome)
    if memory.create_session_summary and memory.update_session_summary_after_run:
        from .summaries import update_session_summary

        def summary_job() -> str | None:
            stored = update_session_summary(memory.session_store, model, run.session_id)
            if stored is None:
                return None
            events.notify(events.Change("summary", run.session_id, user_id,
                                        getattr(memory.session_store, "path", None)))
            return f"summary v{stored.version}"

        worker().submit({("session", run.session_id)}, summary_job, "Updating the summary",
                        memory.on_outcome)
