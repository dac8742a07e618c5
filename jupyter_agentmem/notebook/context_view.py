"""What the model saw in a run, as text: the token split, then each message as sent."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydantic is imported on first use, not by %load_ext
    from ..types import RunContext

PARTS = ("system", "memories", "summary", "recalled", "history", "message")  # CONTEXT_PARTS


def as_json(context: RunContext) -> str:
    """The request's messages exactly as sent, as JSON."""
    return json.dumps(context.messages, ensure_ascii=False, indent=2)


def as_text(context: RunContext, title: str) -> str:
    split = " · ".join(f"{part} {context.tokens.get(part, 0)}" for part in PARTS)
    how = ("estimated offline, ~4 characters per token" if context.estimated
           else "scaled to the input tokens the server reported")
    lines = [title, f"tokens: {split} · total {sum(context.tokens.values())} ({how})"]
    if context.recalled:  # recall=N: where each recalled exchange came from
        lines.append(f"recalled {len(context.recalled)} earlier exchange(s), in the "
                     "system message:")
        lines += [f"  session {r.session_id!r} run {r.seq} ({r.run_id})"
                  for r in context.recalled]
    for message in context.messages:
        lines += ["", f"--- {message.get('role')} ---", str(message.get("content") or "")]
    return "\n".join(lines)
