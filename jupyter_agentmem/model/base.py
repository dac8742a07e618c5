"""The model contract: what the agent and the memory work ask of a chat model.

A new kind of model (another client library, a local runtime) is one new file
implementing ``ChatModel``; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

Messages = list[dict[str, Any]]  # chat-completions messages: {"role", "content", ...}


class ModelError(RuntimeError):
    """The model call failed; the message says why in a user's words.

    ``status_code`` is the server's HTTP status when it answered with one.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ModelConfigError(ModelError):
    """No key and no server address: nothing to call."""


@dataclass
class ModelResponse:
    """One whole answer: text and/or tool calls, with the usage the server reported."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None


TOKENS_MAX = 2**31 - 1  # the runs table's INTEGER columns


def token_count(value: object) -> int | None:
    """A usage figure from a server, as the store can keep it; None when it is not a count.

    Usage is untrusted input (a server answered 3e9, ``"many"``, -5, nested objects):
    a figure that is not a whole number in 0..2**31-1 is dropped, never the run.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= TOKENS_MAX:
        return value
    return None


def usage_counts(usage: object) -> tuple[int | None, int | None]:
    """(input, output) tokens from a server's ``usage`` (an object, a dict or junk)."""

    def figure(name: str) -> object:
        if isinstance(usage, dict):
            return usage.get(name)
        return getattr(usage, name, None)

    return token_count(figure("prompt_tokens")), token_count(figure("completion_tokens"))


class ModelStream(Protocol):
    """Text deltas as they arrive; ``response`` holds the whole answer afterwards."""

    response: ModelResponse

    def __iter__(self) -> Iterator[str]: ...


class ChatModel(Protocol):
    """A chat model: one answer at a time, whole or streamed.

    Every failure is raised as ``ModelError`` (with the key scrubbed from its text), and
    every text of an answer (content, streamed deltas, tool call arguments) is scrubbed
    too: a server can echo the Authorization header.
    """

    id: str

    def check(self) -> None:
        """Raise ``ModelConfigError`` when the model cannot be called at all."""

    def response(self, messages: Messages, tools: list[dict[str, Any]] | None = None,
                 response_format: dict[str, Any] | None = None) -> ModelResponse:
        """One whole answer."""

    def response_stream(self, messages: Messages) -> ModelStream:
        """The answer as it arrives."""

    def scrub(self, text: str) -> str:
        """``text`` without the model's credentials (before it is shown or stored)."""
