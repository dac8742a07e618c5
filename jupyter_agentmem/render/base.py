"""The renderer contract: what the agent calls while a reply arrives."""

from __future__ import annotations

from typing import Protocol

from ..types import RunResponse


class ReplyRenderer(Protocol):
    """Shows one reply: deltas as they arrive, then the final response (or its error)."""

    def add(self, delta: str) -> None:
        """A piece of text that just arrived (streaming)."""

    def finish(self, response: RunResponse) -> None:
        """The run is over: show the whole reply, or why there is none, and a footer."""
