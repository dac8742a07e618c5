"""A keyed background job queue: work off the reply's critical path, in order.

One thread runs jobs one after another. Each job is submitted with the keys it
touches (here: ``("user", id)``, ``("session", id)``); ``wait_for(keys)`` blocks
until no job with one of those keys is pending. A failing job becomes a warning,
never an exception in the caller. This module knows nothing of memories: the jobs
are built in ``memory/jobs.py``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Hashable, Iterable

from .. import runtime

log = logging.getLogger(__name__)
Key = tuple[str, str]
Job = Callable[[], "str | None"]  # returns a one-line outcome, or None for "nothing changed"
Outcome = Callable[[str, bool], None]  # (text, ok): e.g. a status line in the cell

EXIT_WAIT_S = 10.0  # at exit, queued work may store its results for this long


class MemoryWorkWarning(UserWarning):
    """Background memory work failed; the reply and the stored run are unaffected."""


class JobQueue:
    """Jobs keyed by what they touch, run in order on one daemon thread."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._jobs: queue.Queue[tuple[set[Key], Job, str, Outcome | None]] = queue.Queue()
        self._pending: Counter[Key] = Counter()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.failures: list[str] = []  # drained by the notebook, shown at the next cell
        # Jobs kept until someone reads what they would update (run_deferred).
        self._deferred: dict[Hashable, tuple[set[Key], Job, str]] = {}

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
                log.exception("background job bookkeeping failed")
            finally:
                # Whatever happened, the job is over: callers waiting on these keys go on.
                with self._cond:
                    self._pending.subtract(keys)
                    self._pending = +self._pending  # drop zero counts
                    self._cond.notify_all()

    def defer(self, name: Hashable, keys: set[Key], job: Job, what: str) -> None:
        """Keep ``job`` to run only when ``run_deferred(name)`` asks for it (a read of
        what it would update); a later deferral under ``name`` replaces it."""
        with self._cond:
            self._deferred[name] = (keys, job, what)

    def run_deferred(self, name: Hashable) -> bool:
        """Run soon the job deferred under ``name``; ``False`` when there is none."""
        with self._cond:
            found = self._deferred.pop(name, None)
        if found is not None:
            self.run_soon(*found)
        return found is not None

    def run_soon(self, keys: set[Key], job: Job, what: str) -> None:
        """Queue ``job``; in the job thread itself (a job that reads) run it now: it
        could not wait for a job queued behind it."""
        if self.in_worker_thread():
            job()
        else:
            self.submit(keys, job, what)

    def report(self, message: str) -> None:
        """A problem in background work: logged, warned, and kept for the next cell."""
        log.debug(message)
        self.failures.append(message)
        try:
            warnings.warn(message, MemoryWorkWarning, stacklevel=2)
        except Exception:  # noqa: BLE001 (warnings turned into errors: the list has it)
            log.debug("warning not shown", exc_info=True)

    def wait_for(self, keys: Iterable[Key] | None, timeout: float) -> bool:
        """Wait until no job touching ``keys`` (``None``: any job) is pending.

        ``False`` if ``timeout`` seconds passed first.
        """
        wanted = None if keys is None else set(keys)
        deadline = time.monotonic() + timeout
        with self._cond:
            while (+self._pending if wanted is None
                   else any(self._pending[k] for k in wanted)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def in_worker_thread(self) -> bool:
        """True in the job thread itself: a job waiting for its own keys would stall."""
        return self._thread is not None and threading.current_thread() is self._thread

    def drain_failures(self) -> list[str]:
        out, self.failures = self.failures, []
        return out

    # --- runtime.Resource -------------------------------------------------------
    def idle(self, timeout: float = 30.0) -> bool:
        return self.wait_for(None, timeout)

    def after_fork_in_child(self) -> None:
        # A forked child inherits the parent's pending counts but not its thread.
        self._reset()

    def close(self) -> None:
        # Let queued work store its results before the engines close (runtime.PHASES).
        self.idle(EXIT_WAIT_S)


def worker() -> JobQueue:
    """The process's background job queue."""
    return runtime.shared("jobs", "memory-worker", JobQueue)
