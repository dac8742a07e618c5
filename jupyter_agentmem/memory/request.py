"""The request of one run, built in parts, and how its tokens split between the parts.

Tokens are estimated offline (~4 characters per token, like ``model/server.py``; no
tokenizer download) and scaled to the input tokens the server reports when it does.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..types import CONTEXT_PARTS, Memory, Message, RunContext, SessionSummary
from .history import system_prompt

MESSAGE_OVERHEAD = 3  # tokens a chat message costs beyond its text (role, separators)


def estimate_tokens(text: str | None) -> int:
    """~4 characters per token: a stable offline stand-in for a tokenizer."""
    return (len(text) + 3) // 4 if text else 0


def message_tokens(message: Message) -> int:
    return estimate_tokens(message.content) + MESSAGE_OVERHEAD


class Request:
    """The messages of one run and the pieces the system message was made of."""

    __slots__ = ("history", "memories", "message", "summary", "system", "tokens")

    def __init__(self, description: str | None, instructions: Sequence[str] | str | None,
                 memories: Sequence[Memory], summary: SessionSummary | None,
                 history: list[Message], message: Message) -> None:
        text = system_prompt(description, instructions, memories, summary)
        self.system = Message(role="system", content=text) if text else None
        self.memories = list(memories)
        self.summary = summary
        self.history = history
        self.message = message
        # The system message is one text: its parts are measured by building each alone.
        own = system_prompt(description, instructions)
        self.tokens = {
            "system": (estimate_tokens(own) + MESSAGE_OVERHEAD) if self.system else 0,
            "memories": estimate_tokens(system_prompt(None, None, memories)) if memories
            else 0,
            "summary": estimate_tokens(system_prompt(None, None, (), summary)) if summary
            else 0,
            "history": sum(message_tokens(m) for m in history),
            "message": message_tokens(message),
        }

    @property
    def sent(self) -> list[Message]:
        return ([self.system] if self.system else []) + self.history + [self.message]

    def openai_messages(self) -> list[dict[str, object]]:
        return [m.to_openai() for m in self.sent]

    @property
    def estimated_total(self) -> int:
        return sum(self.tokens.values())

    def context(self, input_tokens: int | None = None) -> RunContext:
        """What the model saw; the split scaled to ``input_tokens`` when the server said."""
        tokens = dict(self.tokens)
        usable = isinstance(input_tokens, int) and input_tokens > 0 and self.estimated_total
        if usable:
            tokens = scaled(tokens, int(input_tokens))
        return RunContext(messages=self.openai_messages(), tokens=tokens,
                          estimated=not usable)


def scaled(tokens: dict[str, int], total: int) -> dict[str, int]:
    """``tokens`` in proportion, summing to exactly ``total`` (largest remainders)."""
    estimated = sum(tokens.values())
    exact = {k: tokens[k] * total / estimated for k in CONTEXT_PARTS}
    out = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(CONTEXT_PARTS, key=lambda k: exact[k] - out[k], reverse=True)
    for k in by_remainder[:total - sum(out.values())]:
        out[k] += 1
    return out
