"""A ``ChatModel`` that reports every call it makes: the usage ledger's source.

Wrapping a model (``MeteredModel(model, kind, on_call)``) leaves its answers alone and,
after each call (failed ones too), adds its tokens to this process's tally of the day
(what ``AgentMagics.budget_tokens`` is checked against) and calls ``on_call`` with a
``ModelCall``, so the agent and the background memory work keep a ledger of every call
without the model knowing where it goes.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .. import runtime
from ..types import ModelCall
from .base import ChatModel, Messages, ModelResponse, ModelStream

OnCall = Callable[[ModelCall], None]


class UsageTally:
    """Tokens this process (one kernel) spent today, chat and background work alike."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._day = dt.date.today()
        self._tokens = 0

    def add(self, tokens: int) -> None:
        with self._guard:
            self._roll()
            self._tokens += tokens

    def today(self) -> int:
        with self._guard:
            self._roll()
            return self._tokens

    def _roll(self) -> None:
        if dt.date.today() != self._day:
            self._day, self._tokens = dt.date.today(), 0

    # --- runtime.Resource -------------------------------------------------------
    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        self._guard = threading.Lock()
        self._tokens = 0  # a child is another kernel

    def close(self) -> None:
        """Nothing to release (``reset()`` starts a new tally)."""


def tally() -> UsageTally:
    return runtime.shared("listeners", "usage-tally", UsageTally)


def tokens_today() -> int:
    """Tokens this kernel spent today (every model call through a ``MeteredModel``)."""
    return tally().today()


def _count(value: int | None) -> int:
    # Usage figures come from the server: only a sane whole number counts.
    return value if isinstance(value, int) and 0 <= value < 2**31 else 0


class _MeteredStream:
    def __init__(self, inner: ModelStream, done: Callable[[ModelResponse | None], None]) -> None:
        self._inner = inner
        self._done = done
        self.response = inner.response

    def __iter__(self) -> Iterator[str]:
        ok = False
        try:
            yield from self._inner
            ok = True
        finally:
            self.response = self._inner.response
            self._done(self.response if ok else None)


class MeteredModel:
    """``model``, with ``on_call`` told about each call (kind ``kind``)."""

    def __init__(self, model: ChatModel, kind: str, on_call: OnCall) -> None:
        self.inner = model
        self.kind = kind
        self.on_call = on_call
        self.id = model.id

    def __repr__(self) -> str:
        return f"MeteredModel({self.inner!r}, kind={self.kind!r})"

    def _report(self, started: float, answer: ModelResponse | None) -> None:
        call = ModelCall(
            kind=self.kind, model=self.id,
            input_tokens=_count(answer.input_tokens) if answer else None,
            output_tokens=_count(answer.output_tokens) if answer else None,
            latency_ms=(time.perf_counter() - started) * 1000, ok=answer is not None)
        tally().add((call.input_tokens or 0) + (call.output_tokens or 0))
        self.on_call(call)

    def check(self) -> None:
        self.inner.check()

    def scrub(self, text: str) -> str:
        return self.inner.scrub(text)

    def response(self, messages: Messages, tools: list[dict[str, Any]] | None = None,
                 response_format: dict[str, Any] | None = None) -> ModelResponse:
        started = time.perf_counter()
        answer = None
        try:
            answer = self.inner.response(messages, tools=tools, response_format=response_format)
            return answer
        finally:
            self._report(started, answer)

    def response_stream(self, messages: Messages) -> ModelStream:
        started = time.perf_counter()
        try:
            inner = self.inner.response_stream(messages)
        except BaseException:
            self._report(started, None)
            raise
        return _MeteredStream(inner, lambda answer: self._report(started, answer))
