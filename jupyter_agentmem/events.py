"""In-process change notices: panels refresh when a run or memory work stored something."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Change:
    """Something was stored: ``kind`` is run, memories, summary or edit."""

    kind: str
    session_id: str | None = None
    user_id: str | None = None
    db_path: str | None = None


Listener = Callable[[Change], None]

_listeners: list[weakref.ref | Callable] = []
_guard = threading.Lock()


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` on every change (held weakly for bound methods); returns unsubscribe."""
    ref = weakref.WeakMethod(listener) if hasattr(listener, "__self__") else (lambda: listener)
    with _guard:
        _listeners.append(ref)

    def unsubscribe() -> None:
        with _guard:
            if ref in _listeners:
                _listeners.remove(ref)

    return unsubscribe


def notify(change: Change) -> None:
    """Tell every live listener; a failing listener never breaks the run that stored."""
    with _guard:
        refs = list(_listeners)
    for ref in refs:
        listener = ref()
        if listener is None:
            with _guard:
                if ref in _listeners:
                    _listeners.remove(ref)
            continue
        try:
            listener(change)
        except Exception:  # noqa: BLE001 (a panel's bug must not fail a run)
            import logging

            logging.getLogger(__name__).exception("change listener failed")
