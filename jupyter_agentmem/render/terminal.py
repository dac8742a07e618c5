"""``print_response`` outside a notebook: phidata's panels, drawn with rich.

A "Message" panel (cyan border, the message in green) and a "Response (1.2s)" panel
(blue border; Markdown when ``markdown=True``), heavy boxes, in one ``Live`` display
that shows a "Thinking..." spinner until the reply is complete (phidata 2.7.10,
``agent.py:2763-2989``; tests/fixtures/phidata/REFERENCE.md section 6).
"""

from __future__ import annotations

import time
from typing import Any

from ..types import RunResponse


class TerminalReply:
    """A ``ReplyRenderer`` drawing phidata's Message / Response panels in a terminal."""

    def __init__(self, message: str, markdown: bool = False, show_message: bool = True,
                 console: Any = None, stream: bool = False) -> None:
        from rich.console import Console
        from rich.live import Live

        self.message = message
        self.markdown = markdown
        self.show_message = show_message
        self.stream = stream
        self.console = console if console is not None else Console()
        self.text = ""
        self._started = time.perf_counter()
        self._live = Live(console=self.console, auto_refresh=True, refresh_per_second=4)
        self._live.start()
        self._live.update(self._frame(thinking=True))

    # --- the panels ---------------------------------------------------------------
    def _panel(self, content: Any, title: str, border: str) -> Any:
        from rich import box
        from rich.panel import Panel

        return Panel(content, title=title, title_align="left", border_style=border,
                     box=box.HEAVY, expand=True, padding=(1, 1))

    def _message_panel(self) -> Any:
        from rich.text import Text

        return self._panel(Text(self.message, style="green"), "Message", "cyan")

    def _response_panel(self, text: str, error: bool = False) -> Any:
        from rich.markdown import Markdown
        from rich.text import Text

        elapsed = time.perf_counter() - self._started
        # Text, not the str phidata passes: rich reads a str as console markup, and a
        # "[demo model: ...]" line (or any [word] in a reply) vanished as a style tag.
        content: Any = (Text(text, style="red") if error
                        else Markdown(text) if self.markdown else Text(text))
        return self._panel(content, f"Response ({elapsed:.1f}s)", "red" if error else "blue")

    def _frame(self, thinking: bool, error: bool = False) -> Any:
        from rich.console import Group
        from rich.status import Status

        parts: list[Any] = []
        if thinking:
            parts.append(Status("Thinking...", spinner="aesthetic", speed=2.0))
        # Without streaming the message shows with the response, at the end (as phidata).
        if self.show_message and (self.stream or not thinking):
            parts.append(self._message_panel())
        if self.text or not thinking:
            parts.append(self._response_panel(self.text, error))
        return Group(*parts)

    # --- ReplyRenderer ------------------------------------------------------------
    def add(self, delta: str) -> None:
        self.text += delta
        self._live.update(self._frame(thinking=True))

    def finish(self, response: RunResponse) -> None:
        error = response.status != "ok" or not response.stored
        if response.status == "ok" and response.content is not None:
            self.text = response.content
        if error:
            why = ("Not saved: " if not response.stored else "Model error: ") + (
                response.error or "")
            self.text = "\n\n".join(p for p in (self.text, why) if p)
        self._live.update(self._frame(thinking=False, error=error))
        self._live.stop()
