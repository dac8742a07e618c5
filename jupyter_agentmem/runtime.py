"""Every process-wide object, made on first use, forked and closed in one fixed order.

The memory worker, the database engines (one per DuckDB/SQLite file or PostgreSQL
URL), the change bus and the demo model's server each live once per process. They
are kept here rather than in module globals of their own, so that:

- one ``atexit`` hook closes them in ``PHASES`` order whatever the import order was
  (background jobs finish first: they write to the engines; engines close before the
  servers a job might still call);
- one ``at_fork`` hook tells each of them it is in a child (no thread of the parent
  runs there, and a child must never close the parent's connections), and first lets
  one that has a ``before_fork`` wait for its thread;
- tests call ``reset()`` for a process as fresh as a new kernel.

This module imports nothing of the package: every layer may use it.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from typing import Protocol, TypeVar

log = logging.getLogger(__name__)

# Exit order. "jobs": background work (it writes through the engines); "engines":
# database connections (closing one checkpoints its file); "servers": local HTTP
# servers (the demo model) that a job may still be calling; "listeners": last.
PHASES = ("jobs", "engines", "servers", "listeners")


class Resource(Protocol):
    """What the runtime needs of a process-wide object."""

    def idle(self, timeout: float) -> bool:
        """Wait until no work is pending (``True``), or ``timeout`` seconds (``False``)."""

    def after_fork_in_child(self) -> None:
        """Forget what belongs to the parent (threads, sockets, locks); never close it."""

    # Optional: ``before_fork(self) -> None``, called in the forking thread first (a
    # thread that must not be forked mid-way is waited for there, for a bounded time).

    def close(self) -> None:
        """Release everything (at exit, or ``reset()``); the object may be used again."""


R = TypeVar("R", bound=Resource)

_guard = threading.RLock()
_shared: dict[tuple[str, str], Resource] = {}
# Objects nobody looks up by key (a private in-memory database) but that still need
# the fork and exit hooks; held weakly so they go away with their last user.
_tracked: dict[str, weakref.WeakSet[Resource]] = {phase: weakref.WeakSet() for phase in PHASES}
# Objects a forked child inherited and must neither use nor destroy before it exits
# (destroying a DuckDB connection checkpoints into the parent's file).
_kept_alive: list[object] = []


def shared(phase: str, key: str, factory: Callable[[], R]) -> R:
    """The process's one object for ``key``, made by ``factory`` on first use."""
    _check(phase)
    with _guard:
        found = _shared.get((phase, key))
        if found is None:
            found = _shared[(phase, key)] = factory()
        return found  # type: ignore[return-value]  (the factory made it for this key)


def track(phase: str, resource: R) -> R:
    """Give ``resource`` the fork and exit hooks without sharing it by key."""
    _check(phase)
    with _guard:
        _tracked[phase].add(resource)
    return resource


def keep_alive(obj: object) -> None:
    """Never destroy ``obj`` in this process (see ``_kept_alive``).

    A list alone is not enough: at interpreter shutdown module globals are cleared and
    the object would be destroyed after all, in an order that depends on the modules.
    One extra reference that nobody owns keeps it alive until the process is gone.
    """
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))
    _kept_alive.append(obj)


def wait_for_background_imports(timeout: float = 60.0) -> None:
    """Wait (bounded) for the background imports ``%load_ext`` started, if any
    (notebook/preload.py): a module imported by two threads at once can be seen half
    made ("cannot import name ... from partially initialized module", seen with openai
    when a Python-API run came right after ``%load_ext``). Returns at once without them,
    or in their own thread."""
    with _guard:
        found = _shared.get(("jobs", "preload"))
    wait = getattr(found, "wait", None)
    if wait is not None:
        wait(timeout)


def is_forked_child() -> bool:
    """True in a forked child that inherited something it must leave alone."""
    return bool(_kept_alive)


def idle(timeout: float = 30.0) -> bool:
    """Wait until every background job has finished; ``False`` if ``timeout`` passed."""
    return all(r.idle(timeout) for r in _in_phase("jobs"))


def reset() -> None:
    """Close and forget every process-wide object (tests: as fresh as a new kernel)."""
    _close_all()
    with _guard:
        _shared.clear()
        for tracked in _tracked.values():
            tracked.clear()


def _check(phase: str) -> None:
    if phase not in PHASES:
        raise ValueError(f"unknown runtime phase {phase!r}; phases: {', '.join(PHASES)}")


def _in_phase(phase: str) -> list[Resource]:
    with _guard:
        keyed = [r for (p, _), r in _shared.items() if p == phase]
        return keyed + [r for r in list(_tracked[phase]) if r not in keyed]


def _close_all(phases: tuple[str, ...] = PHASES) -> None:
    for phase in phases:
        for resource in _in_phase(phase):
            try:
                resource.close()
            except Exception:  # noqa: BLE001 (closing everything else matters more)
                log.debug("closing %r failed", resource, exc_info=True)


def _at_exit() -> None:
    # A forked child that inherited open databases leaves them alone: they are the
    # parent's files, and closing them would checkpoint into them.
    _close_all(("jobs",) if is_forked_child() else PHASES)


def _before_fork() -> None:
    # Runs in the forking thread. A resource with a thread that must not be cut off
    # mid-way by a fork (the background imports: a child would inherit their module
    # locks held) waits for it here; the wait is the resource's, bounded.
    for phase in PHASES:
        for resource in _in_phase(phase):
            hook = getattr(resource, "before_fork", None)
            if hook is not None:
                try:
                    hook()
                except Exception:  # noqa: BLE001 (a fork must never fail because of us)
                    log.debug("before_fork of %r failed", resource, exc_info=True)


def _after_fork_in_child() -> None:
    global _guard
    _guard = threading.RLock()  # the parent's may have been held by a thread that is gone
    for phase in PHASES:
        for resource in _in_phase(phase):
            resource.after_fork_in_child()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
atexit.register(_at_exit)
