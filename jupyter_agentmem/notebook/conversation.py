"""``%agent history`` shown as a conversation: each run a block (its number, local time and
a badge when it failed, was cancelled or got no reply), the user's turn as written, the
assistant's rendered as Markdown (as ``%%agent`` shows it), in HTML and in plain text.

Markdown goes through markdown-it-py (rich's own parser) with raw HTML and images off:
a stored reply is text from a model server, shown as text, never as live HTML, and no
image is fetched from an address a reply names.
"""

from __future__ import annotations

import itertools
from html import escape
from typing import TYPE_CHECKING, Any

from . import display_values as shown
from .theme import ACCENT, BADGE_CSS, FONT, FONT_SIZE, LINE, STATUS_WORDS, SURFACE, TEXT, badge

if TYPE_CHECKING:
    import pandas as pd

# Runs that got no reply stored: an interrupted one (the process stopped before its
# reply was stored) holds the user's message alone.
NO_REPLY = ("interrupted", "error", "cancelled")
TURN_CHARS = 4000  # a turn's text is cut here in the display (the DataFrame holds it whole)
SHOWN_MESSAGES = 60  # the latest messages are drawn; the DataFrame holds them all

_CSS = (
    BADGE_CSS
    + f".agentmem-chat {{max-width: 60em; color: {TEXT}; font-family: {FONT}; "
    f"font-size: {FONT_SIZE}; line-height: 1.5}}"
    ".agentmem-chat .agentmem-caption {opacity: 0.75; margin: 0 0 6px 0}"
    f".agentmem-chat .agentmem-run {{margin: 0 0 10px 0; padding: 0 0 8px 0; "
    f"border-bottom: 1px solid {LINE}}}"
    ".agentmem-chat .agentmem-run-head {font-size: 0.85em; opacity: 0.75; margin: 0 0 3px 0}"
    ".agentmem-chat .agentmem-run-head .agentmem-badge {font-size: 1em}"
    ".agentmem-chat .agentmem-turn {display: grid; grid-template-columns: 6.5em minmax(0, 1fr);"
    " column-gap: 10px; padding: 5px 10px; margin: 3px 0; border-radius: 6px; "
    "text-align: left}"
    f".agentmem-chat .agentmem-user {{background: {SURFACE}}}"
    f".agentmem-chat .agentmem-assistant {{border-left: 3px solid {ACCENT}; "
    "border-radius: 0 6px 6px 0}"
    ".agentmem-chat .agentmem-role {font-weight: 600; font-size: 0.85em; opacity: 0.8; "
    "padding-top: 1px}"
    ".agentmem-chat .agentmem-plain {white-space: pre-wrap; overflow-wrap: anywhere}"
    ".agentmem-chat .agentmem-md {overflow-wrap: anywhere}"
    ".agentmem-chat .agentmem-md > :first-child {margin-top: 0}"
    ".agentmem-chat .agentmem-md > :last-child {margin-bottom: 0}"
    f".agentmem-chat .agentmem-md pre {{background: {SURFACE}; padding: 6px 8px; "
    "border-radius: 4px; overflow-x: auto}"
    # JupyterLab's dark theme gives inline code a background of its own: not in a block.
    ".agentmem-chat .agentmem-md pre code {background: transparent; color: inherit}"
)


def _markdown() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    return md.enable(["table", "strikethrough"]).disable("image")


def _runs(frame: pd.DataFrame) -> list[tuple[Any, list[dict[str, Any]]]]:
    """The shown messages grouped by run, in order (the latest ``SHOWN_MESSAGES``)."""
    rows = frame.iloc[-SHOWN_MESSAGES:].to_dict("records") if len(frame) else []
    return [(run, list(group)) for run, group in
            itertools.groupby(rows, key=lambda r: r.get("run"))]


def _status(messages: list[dict[str, Any]]) -> str:
    status = messages[0].get("status")
    return status if isinstance(status, str) and status in NO_REPLY else ""


def _head(run: Any, messages: list[dict[str, Any]]) -> str:
    when = shown.local_time(messages[0].get("time"))
    return " · ".join(p for p in (f"run {shown.whole(run)}", when) if p)


class ConversationView:
    """How a ``%agent history`` frame is drawn: a conversation, run by run."""

    def __init__(self, session: str = "") -> None:
        self.session = session

    def __getstate__(self) -> dict[str, Any]:
        return {"session": self.session}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.session = state["session"]

    def can_show(self, frame: pd.DataFrame) -> bool:
        return {"run", "role", "content"} <= set(frame.columns) and frame.columns.is_unique

    def _caption(self, frame: pd.DataFrame) -> str:
        runs = frame["run"].nunique()
        said = [f"session {self.session}"] if self.session else []
        said.append(f"{runs:,} run{'' if runs == 1 else 's'}, "
                    f"{len(frame):,} message{'' if len(frame) == 1 else 's'}")
        if len(frame) > SHOWN_MESSAGES:
            said.append(f"the last {SHOWN_MESSAGES} shown (the DataFrame holds all)")
        return " · ".join(said)

    def _empty(self) -> str:
        return (f"No messages in session {self.session!r}." if self.session
                else "No messages.")

    def html(self, frame: pd.DataFrame) -> str:
        if frame.empty:
            return (f'<div class="agentmem-root agentmem-chat"><style>{_CSS}</style>'
                    f'<div class="agentmem-caption">{escape(self._empty())}</div></div>')
        md = _markdown()
        out = [f'<div class="agentmem-root agentmem-chat"><style>{_CSS}</style>',
               f'<div class="agentmem-caption">{escape(self._caption(frame))}</div>']
        for run, messages in _runs(frame):
            status = _status(messages)
            out.append('<div class="agentmem-run"><div class="agentmem-run-head">'
                       + escape(_head(run, messages)) + (badge(status) if status else "")
                       + "</div>")
            for message in messages:
                role = "" if shown.missing(message.get("role")) else str(message["role"])
                content = shown.text(message.get("content"), TURN_CHARS)
                if role == "assistant":
                    body = f'<div class="agentmem-md">{md.render(content)}</div>'
                else:
                    body = f'<div class="agentmem-plain">{escape(content)}</div>'
                kind = role if role in ("user", "assistant") else "other"
                out.append(f'<div class="agentmem-turn agentmem-{kind}">'
                           f'<div class="agentmem-role">{escape(role)}</div>{body}</div>')
            out.append("</div>")
        out.append("</div>")
        return "".join(out)

    def text(self, frame: pd.DataFrame, width: int) -> str:
        from rich.padding import Padding
        from rich.table import Table
        from rich.text import Text

        from .table_text import render_text

        if frame.empty:
            return self._empty()
        parts: list[Any] = [Text(self._caption(frame))]
        for run, messages in _runs(frame):
            status = _status(messages)
            head = _head(run, messages) + (f" · {STATUS_WORDS[status]}" if status else "")
            grid = Table.grid(padding=(0, 2))
            grid.add_column(no_wrap=True, min_width=9)
            grid.add_column(overflow="fold")
            for message in messages:
                role = "" if shown.missing(message.get("role")) else str(message["role"])
                grid.add_row(Text(role), Text(shown.text(message.get("content"), TURN_CHARS)))
            parts += [Text(""), Text(head), Padding(grid, (0, 0, 0, 2))]
        return render_text(parts, width)
