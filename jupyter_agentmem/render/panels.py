"""``print_response`` in a notebook: phidata's Message and Response boxes, as HTML.

phidata users see two boxes in their terminal (``render/terminal.py``): "Message" with
a cyan border and the message in green, and "Response (1.2s)" with a blue border (red
after a failure), Markdown when ``markdown=True``. A notebook gets the same boxes as one
HTML display that is updated while the reply streams (throttled as ``ReplyView`` is),
with the time taken in the title and the session, model and tokens under them.

The colours are JupyterLab's theme variables (info, success, brand, error), so the
boxes read in the light and the dark theme alike; each has a fallback for frontends
without them (VS Code, classic Notebook). Markdown is rendered by markdown-it-py (rich's
own parser, so already installed) with raw HTML off: a reply is untrusted text, and
any HTML in it is shown as text, never run.
"""

from __future__ import annotations

import html
import time
from typing import Any

from ..types import RunResponse
from .reply import ReplyView, failure_note, footer_text

CYAN = "var(--jp-info-color1, #0097a7)"
GREEN = "var(--jp-success-color1, #388e3c)"
BLUE = "var(--jp-brand-color1, #1976d2)"
RED = "var(--jp-error-color1, #d32f2f)"
TEXT = "var(--jp-content-font-color1, inherit)"
FAINT = "var(--jp-content-font-color2, #757575)"
CODE_BACKGROUND = "var(--jp-layout-color2, rgba(127, 127, 127, 0.1))"


def markdown_html(text: str) -> str:
    """``text`` as HTML: CommonMark with tables and strikethrough, raw HTML escaped."""
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark", {"html": False}).enable(
        ["table", "strikethrough"]).render(text)
    # A code block set apart as JupyterLab's Markdown cells do (an HTML output's <pre> has
    # no background of its own). The text is escaped: "<pre><code" is only ever the tags.
    return rendered.replace("<pre><code", f'<pre style="background: {CODE_BACKGROUND}; '
                            'padding: 6px 8px; border-radius: 3px"><code '
                            'style="background: none; padding: 0"')


def _box(title: str, border: str, title_color: str, body: str) -> str:
    # A fieldset draws its legend on the border, where rich draws a Panel's title.
    return (f'<fieldset style="border: 2px solid {border}; border-radius: 4px; '
            'margin: 0 0 6px 0; padding: 4px 12px 6px 12px; min-width: 0">'
            f'<legend style="padding: 0 6px; font-weight: 600; color: {title_color}; '
            f'font-size: 0.95em">{html.escape(title)}</legend>{body}</fieldset>')


class PanelsView(ReplyView):
    """A ``ReplyRenderer`` drawing phidata's Message / Response boxes in a notebook."""

    def __init__(self, message: str, markdown: bool = False, show_message: bool = True,
                 **view_options: Any) -> None:
        super().__init__(markdown=markdown, use_display=True, **view_options)
        self.message = message
        self.show_message = show_message
        self._started = time.perf_counter()
        self._error = False
        self._send(self._bundle("", False))  # the message and "Thinking..." at once

    def _due(self) -> bool:
        # Each update sends the text twice (HTML and plain), as a Markdown ReplyView does.
        if time.monotonic() - self._last_update < self.min_interval_s:
            return False
        budget = self.bytes_per_char * self._length + self.free_bytes
        return self.sent_chars + 2 * self._length <= budget

    def _title(self) -> str:
        return f"Response ({time.perf_counter() - self._started:.1f}s)"

    def _bundle(self, text: str, footer: bool) -> dict[str, str]:
        title = self._title()
        parts = []
        if self.show_message:
            body = (f'<div style="color: {GREEN}; white-space: pre-wrap; '
                    f'overflow-wrap: anywhere">{html.escape(self.message)}</div>')
            parts.append(_box("Message", CYAN, CYAN, body))
        if not text and not footer:
            body = f'<div style="color: {FAINT}; font-style: italic">Thinking…</div>'
        elif self.markdown and not self._error:
            body = (f'<div style="color: {TEXT}; overflow-wrap: anywhere">'
                    f'{markdown_html(text)}</div>')
        else:
            color = RED if self._error else TEXT
            body = (f'<div style="color: {color}; white-space: pre-wrap; '
                    f'overflow-wrap: anywhere">{html.escape(text)}</div>')
        border = RED if self._error else BLUE
        parts.append(_box(title, border, border, body))
        lines = self._footer(False) if footer else []
        if lines:
            parts.append(f'<div style="color: {FAINT}; font-size: 0.85em">'
                         + "<br>".join(html.escape(line) for line in lines) + "</div>")
        plain = "".join([f"Message: {self.message}\n\n" if self.show_message else "",
                         f"{title}:\n{text}" if text or footer else f"{title}: Thinking…",
                         "".join(("\n\n-- " if i == 0 else "\n-- ") + line
                                 for i, line in enumerate(lines))])
        return {"text/html": '<div class="agentmem-panels">' + "".join(parts) + "</div>",
                "text/plain": plain}

    def _footer(self, markdown: bool) -> list[str]:
        return [line for line in (footer_text(self._response, False) if self._response
                                  else "", *self.notes) if line]

    def finish(self, response: RunResponse, footer: bool = True) -> None:
        """The boxes as they end: the whole reply (or why there is none, in red)."""
        self._error = response.status != "ok" or not response.stored
        text = self.text
        if response.status == "ok" and response.content is not None:
            text = response.content
        body = "\n\n".join(p for p in (text, failure_note(response, False)) if p)
        self._response = response if footer else None
        self._send(self._bundle(body, True))
