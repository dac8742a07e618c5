"""The default renderer: one updating display in a notebook, plain text elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any

from ..types import RunResponse


def in_notebook() -> bool:
    """True inside a Jupyter kernel (a frontend renders rich output)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def footer_text(response: RunResponse) -> str:
    """The line under a reply: how to resume the session, and what the run cost."""
    bits = [f"session `{response.session_id}`"]
    if response.model:
        bits.append(response.model)
    if response.latency_ms is not None:
        bits.append(f"{response.latency_ms:.0f} ms")
    if response.input_tokens is not None:
        bits.append(f"{response.input_tokens} in / {response.output_tokens} out tokens")
    return " · ".join(bits)


class ReplyView:
    """A reply that grows as deltas arrive, rendered through one updating display."""

    def __init__(self, markdown: bool = True, use_display: bool | None = None,
                 min_interval_s: float = 0.05) -> None:
        self.markdown = markdown
        self.use_display = in_notebook() if use_display is None else use_display
        self.min_interval_s = min_interval_s  # throttle: a display update per 50 ms at most
        self.text = ""
        self._handle: Any = None
        self._last_update = 0.0

    def _bundle(self, text: str, footer: str) -> dict[str, str]:
        plain = text + ("\n\n-- " + footer if footer else "")
        if not self.markdown:
            return {"text/plain": plain}
        return {"text/markdown": text + ("\n\n---\n<sub>" + footer + "</sub>" if footer else ""),
                "text/plain": plain}

    def _show(self, text: str, footer: str = "", force: bool = False) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self._bundle(text, footer), raw=True, display_id=True)
            self._last_update = time.monotonic()
        elif force or time.monotonic() - self._last_update >= self.min_interval_s:
            self._handle.update(self._bundle(text, footer), raw=True)
            self._last_update = time.monotonic()

    def add(self, delta: str) -> None:
        self.text += delta
        if self.use_display:
            self._show(self.text)
        else:
            sys.stdout.write(delta)
            sys.stdout.flush()

    def finish(self, response: RunResponse, footer: bool = True) -> None:
        """The final text (or the error) and the footer."""
        if not response.stored:
            note = (f"**Not saved**: {response.error} Copy what you need from this cell; "
                    "the session does not have this run.")
        elif response.status != "ok":
            note = (f"**Model error** ({response.status}): {response.error}\n\n"
                    "Your message was kept in the session (stored as a failed run, left out "
                    "of later history).")
        else:
            note = ""
        if not self.markdown:
            note = note.replace("**", "")
        text = self.text
        if response.status == "ok" and response.content is not None:
            text = response.content
        body = "\n\n".join(part for part in (text, note) if part)
        foot = footer_text(response) if footer else ""
        if self.use_display:
            self._show(body, foot, force=True)
            return
        # In a terminal the streamed text is already printed: add what is missing.
        rest = body[len(self.text):].lstrip("\n") if self.text and body.startswith(
            self.text) else body
        sys.stdout.write(("\n\n" if self.text and rest else "") + rest)
        sys.stdout.write("\n" + ("-- " + foot + "\n" if foot else ""))
        sys.stdout.flush()
