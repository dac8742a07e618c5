"""The memory status line under a reply, updated in place when the background work is done."""

from __future__ import annotations

import threading
from typing import Any


class MemoryStatus:
    """A line under a reply, updated from the worker thread when memory work is done.

    Outcomes that arrive before the reply is finished are kept and shown with it.
    """

    def __init__(self, jobs: int, live: bool = True) -> None:
        self.jobs = jobs
        # live=False: a terminal, where an update would print the line again, at any
        # moment (the worker's thread), over the next prompt: it is printed once.
        self.live = live
        self.done = 0
        self.parts: list[str] = []
        self._handle: Any = None
        self._guard = threading.Lock()

    def text(self) -> str:
        if self.done < self.jobs and not self.live:
            return "memory: updating in the background (%agent memories shows what it kept)"
        if self.done < self.jobs:
            state = "updating memories…" if not self.parts else " · ".join(self.parts) + " …"
        else:
            state = " · ".join(self.parts) if self.parts else "nothing new to remember"
        return "memory: " + state

    def __call__(self, outcome: str, ok: bool) -> None:
        with self._guard:
            self.done += 1
            if outcome:
                self.parts.append(outcome if ok else "⚠ " + outcome)
            if self._handle is not None and self.live:
                self._handle.update({"text/plain": self.text()}, raw=True)

    def show(self) -> None:
        from IPython.display import display

        with self._guard:
            self._handle = display({"text/plain": self.text()}, raw=True, display_id=True)
