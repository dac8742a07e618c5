"""Chat history: which stored messages go with a new one, and the system prompt around them."""

from __future__ import annotations

from collections.abc import Sequence

from ..types import Memory, Message, Run, SessionSummary, without_prompt_tags
from .recall import Exchange, recalled_prompt

HISTORY_ROLES = ("user", "assistant", "tool")  # old system prompts are never re-sent


def history_messages(runs: Sequence[Run]) -> list[Message]:
    """The user, assistant and tool messages of ``runs``, in order."""
    return [m for run in runs for m in run.messages if m.role in HISTORY_ROLES]


def system_prompt(
    description: str | None,
    instructions: Sequence[str] | str | None,
    memories: Sequence[Memory] = (),
    summary: SessionSummary | None = None,
    recalled: Sequence[Exchange] = (),
) -> str | None:
    """The system message: description, instructions, the user's memories, the summary,
    the recalled earlier exchanges (``recall=N``).

    Built by concatenation, never ``str.format``: user text may hold braces. Memories and
    the summary are written by a model from the user's words: a tag of the prompt's
    blocks in them is defused (``types.without_prompt_tags``), so that none can end its
    block and speak from outside it.
    """
    parts: list[str] = []
    if description:
        parts.append(description.strip())
    if instructions:
        items = [instructions] if isinstance(instructions, str) else list(instructions)
        parts.append("## Instructions\n" + "\n".join("- " + i.strip() for i in items))
    if memories:
        facts = "\n".join("- " + without_prompt_tags(m.memory) for m in memories)
        parts.append(
            "You have these memories about the user from earlier conversations; use them "
            "to personalise your answers:\n<memories>\n" + facts + "\n</memories>")
    if summary is not None:
        topics = (" (topics: " + without_prompt_tags(", ".join(summary.topics)) + ")"
                  if summary.topics else "")
        parts.append(
            "Summary of the earlier part of this conversation" + topics +
            ":\n<summary>\n" + without_prompt_tags(summary.summary) + "\n</summary>")
    if recalled:
        parts.append(recalled_prompt(recalled))
    return "\n\n".join(parts) if parts else None
