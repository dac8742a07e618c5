"""The in-process change bus: panels refresh when a run, memory work or an edit stored something.

(Not to be confused with the ``memory_events`` table, the durable audit trail.)
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from . import runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Change:
    """Something was stored: ``kind`` is run, memories, summary or edit."""

    kind: str
    session_id: str | None = None
    user_id: str | None = None
    db_path: str | None = None


Listener = Callable[[Change], None]


class ChangeBus:
    """Listeners held weakly when they are bound methods (a closed panel goes away)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], Listener | None]] = []
        self._guard = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the function that unsubscribes."""
        ref: Callable[[], Listener | None] = (
            weakref.WeakMethod(listener) if hasattr(listener, "__self__")  # type: ignore[arg-type]
            else (lambda: listener))
        with self._guard:
            self._listeners.append(ref)

        def unsubscribe() -> None:
            with self._guard:
                if ref in self._listeners:
                    self._listeners.remove(ref)

        return unsubscribe

    def notify(self, change: Change) -> None:
        """Tell every live listener; a failing listener never breaks the run that stored."""
        with self._guard:
            refs = list(self._listeners)
        for ref in refs:
            listener = ref()
            if listener is None:
                with self._guard:
                    if ref in self._listeners:
                        self._listeners.remove(ref)
                continue
            try:
                listener(change)
            except Exception:  # noqa: BLE001 (a panel's bug must not fail a run)
                log.exception("change listener failed")

    # --- runtime.Resource -------------------------------------------------------
    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        self._guard = threading.Lock()

    def close(self) -> None:
        with self._guard:
            self._listeners.clear()


def bus() -> ChangeBus:
    """The process's change bus."""
    return runtime.shared("listeners", "changes", ChangeBus)


def subscribe(listener: Listener) -> Callable[[], None]:
    return bus().subscribe(listener)


def notify(change: Change) -> None:
    bus().notify(change)
