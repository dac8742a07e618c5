"""One model call under one deadline: the call runs in a thread of its own, the caller
waits for what it sends until the deadline and no longer.

The openai client's ``timeout`` bounds each read, not the call: a server that sends a
chunk every 0.5 s streamed for ever under ``timeout=3`` (*measured*: still streaming
after 40 s), a whole answer whose body trickles never ended, and each retry of a
silent server waited the full timeout again. The client cannot cut a read short from
outside, so the reading is moved out of the caller's way instead.

Python cannot stop a thread. An abandoned reader (deadline passed, Ctrl-C, the caller
stopped reading) ends at its next chunk (it checks ``stopped`` and closes its
response) or when one read has waited the client's timeout for nothing, so at most
one ``timeout`` after it was abandoned; what it got is dropped. The exception is a
whole (non-streamed) answer trickling for ever: its reader lives as long as that
server keeps sending (a daemon thread and one socket, never waited for).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .base import ModelError

OPENED, CHUNK, END, ERROR = "opened", "chunk", "end", "error"


class ModelTimeout(ModelError):
    """The model did not answer, or did not finish, within the call's deadline."""


def timeout_message(timeout: float, started_reply: bool) -> str:
    longer = f"{max(timeout * 2, 60):g}"
    what = (f"The model did not finish within {timeout:g} s (timeout); the reply so far is "
            "kept." if started_reply else
            f"The model did not answer within {timeout:g} s (timeout).")
    return (f"{what} Allow it more time: %config AgentMagics.timeout = {longer} in a "
            f"notebook, OpenAIChat(timeout={longer}) in Python.")


class DeadlineCall:
    """What a reader thread sends (``OPENED``/``CHUNK``/``END``/``ERROR`` items), read by
    the caller until ``timeout`` seconds after the call was made."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.stopped = threading.Event()  # set by the caller: the reader should end
        self._items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.started_reply = False

    def start(self, reader: Callable[[DeadlineCall], None]) -> DeadlineCall:
        threading.Thread(target=reader, args=(self,), name="agentmem-model-call",
                         daemon=True).start()
        return self

    def put(self, kind: str, value: Any = None) -> None:
        self._items.put((kind, value))

    def get(self) -> tuple[str, Any]:
        """The reader's next item; ``ModelTimeout`` once the deadline passed."""
        try:
            # Interruptible: Ctrl-C while waiting raises here, in the caller's thread.
            return self._items.get(timeout=max(0.0, self.deadline - time.monotonic()))
        except queue.Empty:
            self.stopped.set()
            raise ModelTimeout(timeout_message(self.timeout, self.started_reply)) from None
        except BaseException:
            self.stopped.set()
            raise

    def result(self) -> Any:
        """The value of a reader that sends one ``OPENED`` item (or ``ERROR``)."""
        kind, value = self.get()
        if kind == ERROR:
            raise value
        return value

    def chunks(self) -> Iterator[Any]:
        """The ``CHUNK`` items up to ``END``; an ``ERROR`` is raised. The reader is told
        to stop however this ends (a break, an error, the deadline).

        Past the deadline the reader queues nothing more, and what it queued before is
        still delivered (a reply the server finished in time is whole, however slowly
        the caller reads it); then ``ModelTimeout``. Without the stop, a caller slower
        than a trickle never emptied the queue and so never reached the deadline.
        """
        try:
            while True:
                if not self.stopped.is_set() and time.monotonic() >= self.deadline:
                    self.stopped.set()
                if self.stopped.is_set():
                    try:
                        kind, value = self._items.get_nowait()
                    except queue.Empty:
                        raise ModelTimeout(
                            timeout_message(self.timeout, self.started_reply)) from None
                else:
                    kind, value = self.get()
                if kind == END:
                    return
                if kind == ERROR:
                    raise value
                self.started_reply = True
                yield value
        finally:
            self.stopped.set()
