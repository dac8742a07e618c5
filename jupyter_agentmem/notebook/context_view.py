"""What the model saw in a run: the token split, then each message as sent.

``as_text`` is the plain dump (``dry=on``, ``debug=on``); ``ContextView`` is what
``%agent context`` displays: in a notebook the split as a small stacked bar with a
legend and each message in a fold, in a terminal the same text with a bar per part.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic is imported on first use, not by %load_ext
    from ..types import RunContext

PARTS = ("system", "memories", "summary", "recalled", "history", "message")  # CONTEXT_PARTS
BAR_CHARS = 30  # the width of a part's bar in the text view
OPEN_CHARS = 3000  # a request this short shows its messages unfolded


def as_json(context: RunContext) -> str:
    """The request's messages exactly as sent, as JSON."""
    return json.dumps(context.messages, ensure_ascii=False, indent=2)


def _how(context: RunContext) -> str:
    return ("estimated offline, ~4 characters per token" if context.estimated
            else "scaled to the input tokens the server reported")


def _split_line(context: RunContext) -> str:
    split = " · ".join(f"{part} {context.tokens.get(part, 0)}" for part in PARTS)
    return f"tokens: {split} · total {sum(context.tokens.values())} ({_how(context)})"


def _recalled_lines(context: RunContext) -> list[str]:
    if not context.recalled:  # recall=N: where each recalled exchange came from
        return []
    return ([f"recalled {len(context.recalled)} earlier exchange(s), in the system message:"]
            + [f"  session {r.session_id!r} run {r.seq} ({r.run_id})" for r in context.recalled])


def _content(message: dict[str, Any]) -> str:
    """A message's text as sent; tool calls (and non-text parts) as JSON."""
    content = message.get("content")
    text = content if isinstance(content, str) else (
        "" if content is None else json.dumps(content, ensure_ascii=False, indent=2))
    if message.get("tool_calls"):
        calls = json.dumps(message["tool_calls"], ensure_ascii=False, indent=2)
        text = (text + "\n" if text else "") + "tool calls: " + calls
    return text


def as_text(context: RunContext, title: str, bars: bool = False) -> str:
    lines = [title, _split_line(context)]
    if bars:
        lines += _bar_lines(context)
    lines += _recalled_lines(context)
    for message in context.messages:
        lines += ["", f"--- {message.get('role')} ---", str(message.get("content") or "")]
    return "\n".join(lines)


def _parts(context: RunContext) -> list[tuple[str, int]]:
    """The parts that hold tokens, in prompt order."""
    return [(part, int(context.tokens.get(part, 0))) for part in PARTS
            if context.tokens.get(part, 0) > 0]


def _bar_lines(context: RunContext) -> list[str]:
    parts = _parts(context)
    total = sum(n for _, n in parts) or 1
    width = max(len(p) for p, _ in parts) if parts else 0
    digits = max(len(f"{n:,}") for _, n in parts) if parts else 0
    return [f"  {part:<{width}}  {n:>{digits},}  "
            f"{'█' * max(1, round(BAR_CHARS * n / total)):<{BAR_CHARS}}  {100 * n / total:3.0f}%"
            for part, n in parts]


class ContextView:
    """``%agent context``'s display: HTML in a notebook, text in a terminal."""

    def __init__(self, context: RunContext, run_id: str) -> None:
        self.context = context
        self.run_id = run_id

    def title(self) -> str:
        """``Run 1a2b3c4d · session name`` (a terminal has no hover: the whole run id is
        in ``%agent usage columns=all``)."""
        from . import display_values as shown

        session = self.context.session_id
        return f"Run {shown.short_id(self.run_id)}" + (
            f" · session {shown.session_label(session)}" if session else "")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(as_text(self.context, self.title(), bars=True))

    def _repr_html_(self) -> str:
        from . import display_values as shown
        from .table_html import root
        from .theme import FONT, FONT_SIZE, LINE, PALETTE, SURFACE, TEXT

        context = self.context
        parts = _parts(context)
        total = sum(n for _, n in parts) or 1
        colour = {part: PALETTE[i % len(PALETTE)] for i, part in enumerate(PARTS)}
        css = (f".agentmem-context {{color: {TEXT}; font-family: {FONT}; "
               f"font-size: {FONT_SIZE}; max-width: 60em; line-height: 1.5}}"
               ".agentmem-context .agentmem-bar {display: flex; height: 14px; width: 100%; "
               "max-width: 40em; border-radius: 3px; overflow: hidden; margin: 6px 0 4px 0}"
               ".agentmem-context .agentmem-legend span {margin-right: 14px; "
               "white-space: nowrap}"
               ".agentmem-context .agentmem-legend i {display: inline-block; width: 10px; "
               "height: 10px; border-radius: 2px; margin-right: 5px}"
               f".agentmem-context details {{border: 1px solid {LINE}; border-radius: 4px; "
               "margin: 4px 0; padding: 2px 8px}"
               ".agentmem-context summary {cursor: pointer; font-weight: 600}"
               f".agentmem-context pre {{white-space: pre-wrap; overflow-wrap: anywhere; "
               f"background: {SURFACE}; color: {TEXT}; padding: 6px 8px; margin: 4px 0; "
               "border-radius: 3px; font-size: 0.95em}")
        run = (f'<span class="agentmem-id" title="{escape(self.run_id, quote=True)}">'
               f"{escape(shown.short_id(self.run_id))}</span>")
        session = (f" · session {escape(shown.session_label(context.session_id))}"
                   if context.session_id else "")
        out = [f"<style>{css}</style><div class='agentmem-context'>",
               f"<div><b>Run {run}</b>{session} · {sum(context.tokens.values()):,} input tokens "
               f'<span class="agentmem-muted">({escape(_how(context))})</span></div>',
               '<div class="agentmem-bar">']
        out += [f'<div style="flex: {n} 1 0; background: {colour[part]}" '
                f'title="{part}: {n:,} tokens ({100 * n / total:.0f}%)"></div>'
                for part, n in parts]
        out.append('</div><div class="agentmem-legend">')
        out += [f'<span><i style="background: {colour[part]}"></i>{part} {n:,} '
                f'<span class="agentmem-muted">({100 * n / total:.0f}%)</span></span>'
                for part, n in parts]
        empty = [part for part in PARTS if not context.tokens.get(part, 0)]
        if empty:
            out.append(f'<span class="agentmem-muted">none: {", ".join(empty)}</span>')
        out.append("</div>")
        recalled = _recalled_lines(context)
        if recalled:
            out.append("<div>" + escape(recalled[0]) + "<ul>"
                       + "".join(f"<li>{escape(line.strip())}</li>" for line in recalled[1:])
                       + "</ul></div>")
        texts = [(str(m.get("role")), _content(m)) for m in context.messages]
        unfolded = sum(len(t) for _, t in texts) <= OPEN_CHARS
        for i, (role, text) in enumerate(texts):
            opened = " open" if unfolded or i == len(texts) - 1 else ""
            out.append(f"<details{opened}><summary>{escape(role)} "
                       f'<span class="agentmem-muted">· {len(text):,} characters</span>'
                       f"</summary><pre>{escape(text)}</pre></details>")
        out.append("</div>")
        return root("".join(out))
