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


class ModelStream(Protocol):
    """Text deltas as they arrive; ``response`` holds the whole answer afterwards."""

    response: ModelResponse

    def __iter__(self) -> Iterator[str]: ...


class ChatModel(Protocol):
    """A chat model: one answer at a time, whole or streamed.

    Every failure is raised as ``ModelError`` (with the key scrubbed from its text).
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
