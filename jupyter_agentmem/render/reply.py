"""The default renderer: one updating display in a notebook, plain text elsewhere."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from ..types import RunResponse

_MARKDOWN_SIGNS = re.compile(r"([\\`*_\[\]<>{}#|~])")


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a frontend renders rich output)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def footer_text(response: RunResponse, markdown: bool = True) -> str:
    """The line under a reply: how to resume the session, and what the run cost (the
    session id as code in Markdown; plain text has no markup to show raw)."""
    session = f"`{response.session_id}`" if markdown else str(response.session_id)
    bits = [f"session {session}"]
    if response.model:
        bits.append(response.model)
    if response.latency_ms is not None:
        bits.append(f"{response.latency_ms:.0f} ms")
    if response.input_tokens is not None:
        bits.append(f"{response.input_tokens} in / {response.output_tokens} out tokens")
    return " · ".join(bits)


def failure_note(response: RunResponse, markdown: bool) -> str:
    """Why a run has no stored reply, and what became of the message ("" when it has)."""
    bold = "**" if markdown else ""
    if not response.stored:
        return (f"{bold}Not saved{bold}: {response.error} Copy what you need from this cell; "
                "the session does not have this run.")
    if response.status != "ok":
        return (f"{bold}Model error{bold} ({response.status}): {response.error}\n\n"
                "Your message was kept in the session (stored as a failed run, left out "
                "of later history).")
    return ""


class ReplyView:
    """A reply that grows as deltas arrive, rendered through one updating display.

    Each display update resends the whole text (Markdown and plain: a frontend cannot
    append to a display), so updates are throttled by time *and* by bytes: all updates
    of one reply together send at most ``bytes_per_char`` x the reply's length (plus
    ``free_bytes``), i.e. an update waits until the text has grown by a share of what
    is already shown. A 1 MB reply sent 454 MB in 377 updates before, ~10 MB now
    (bench/bench_stream.py). ``finish`` always shows the whole final text.
    """

    def __init__(self, markdown: bool = True, use_display: bool | None = None,
                 min_interval_s: float = 0.05, bytes_per_char: int = 8,
                 free_bytes: int = 256_000, notes: Sequence[str] = ()) -> None:
        self.markdown = markdown
        self.notes = list(notes)  # lines for the footer (a {name} sent as written...)
        self.use_display = in_notebook() if use_display is None else use_display
        self.min_interval_s = min_interval_s  # throttle: a display update per 50 ms at most
        self.bytes_per_char = bytes_per_char
        self.free_bytes = free_bytes
        self.sent_chars = 0  # characters sent by display updates so far (the budget's use)
        self._parts: list[str] = []  # joined on demand: += on an attribute copies each time
        self._length = 0
        self._handle: Any = None
        self._last_update = 0.0
        self._response: RunResponse | None = None  # the finished run, for the footer

    @property
    def text(self) -> str:
        """The text received so far."""
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _bundle(self, text: str, footer: bool, plain_text: str | None = None) -> dict[str, str]:
        """The display of ``text`` (``plain_text``: the same without our Markdown), with
        the footer (and notes) once the run is over."""
        lines = self._footer(False) if footer else []
        plain = (text if plain_text is None else plain_text) + "".join(
            ("\n\n-- " if i == 0 else "\n-- ") + line for i, line in enumerate(lines))
        if not self.markdown:
            return {"text/plain": plain}
        lines = self._footer(True) if footer else []
        return {"text/markdown": text + ("\n\n---\n<sub>" + "<br>".join(lines) + "</sub>"
                                         if lines else ""),
                "text/plain": plain}

    def _footer(self, markdown: bool) -> list[str]:
        """The footer's lines: the run's, then the notes (shown as written in Markdown too:
        ``{In[3]}`` or ``{_x}`` must not become a link or emphasis)."""
        notes = [_MARKDOWN_SIGNS.sub(r"\\\1", n) for n in self.notes] if markdown else self.notes
        run = footer_text(self._response, markdown) if self._response else ""
        return [line for line in (run, *notes) if line]

    def _due(self) -> bool:
        """May the growing text be sent again now (time and byte budget)?"""
        if time.monotonic() - self._last_update < self.min_interval_s:
            return False
        cost = self._length * (2 if self.markdown else 1)
        budget = self.bytes_per_char * self._length + self.free_bytes
        return self.sent_chars + cost <= budget

    def _send(self, bundle: dict[str, str]) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
        self.sent_chars += sum(len(v) for v in bundle.values())
        self._last_update = time.monotonic()

    def add(self, delta: str) -> None:
        self._parts.append(delta)
        self._length += len(delta)
        if self.use_display:
            if self._handle is None or self._due():
                self._send(self._bundle(self.text, False))
        else:
            sys.stdout.write(delta)
            sys.stdout.flush()

    def finish(self, response: RunResponse, footer: bool = True) -> None:
        """The final text (or the error) and the footer."""
        text = self.text
        if response.status == "ok" and response.content is not None:
            text = response.content
        plain = "\n\n".join(p for p in (text, failure_note(response, False)) if p)
        self._response = response if footer else None
        if self.use_display:
            body = "\n\n".join(p for p in (text, failure_note(response, self.markdown)) if p)
            self._send(self._bundle(body, True, plain))  # always: the whole final text
            return
        body = plain  # a terminal shows no Markdown: the note has no ** either
        # In a terminal the streamed text is already printed: add what is missing.
        rest = body[len(self.text):].lstrip("\n") if self.text and body.startswith(
            self.text) else body
        sys.stdout.write(("\n\n" if self.text and rest else "") + rest + "\n")
        for i, line in enumerate(self._footer(False)):
            sys.stdout.write(("\n" if i == 0 else "") + "-- " + line + "\n")
        sys.stdout.flush()
