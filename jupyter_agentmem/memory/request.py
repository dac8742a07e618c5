"""The request of one run, built in parts, and how its tokens split between the parts.

Tokens are estimated offline (~4 characters of the JSON-escaped text per token, as
``model/server.py`` counts; no tokenizer download), scaled to the input tokens the
server reports, and that report calibrates the next estimates of the same model
(``Calibration``): a token budget (``history=8k``) is kept against the server's count.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Sequence

from .. import runtime
from ..types import CONTEXT_PARTS, Memory, Message, Run, RunContext, SessionSummary
from .history import history_messages, system_prompt
from .recall import Exchange

MESSAGE_OVERHEAD = 3  # tokens a chat message costs beyond its text (role, separators)


def estimate_tokens(text: str | None) -> int:
    """~4 characters per token of the JSON-escaped text (non-ASCII counts more, as it
    does in real tokenizers): a stable offline stand-in for a tokenizer."""
    return (len(json.dumps(text or "")) + 3) // 4


def message_tokens(message: Message) -> int:
    return estimate_tokens(message.content) + MESSAGE_OVERHEAD


class Request:
    """The messages of one run and the pieces the system message was made of."""

    __slots__ = ("history", "memories", "message", "recalled", "sent_message", "summary",
                 "system", "tokens")

    def __init__(self, description: str | None, instructions: Sequence[str] | str | None,
                 memories: Sequence[Memory], summary: SessionSummary | None,
                 history: list[Message], message: Message,
                 sent_message: Message | None = None,
                 recalled: Sequence[Exchange] = ()) -> None:
        text = system_prompt(description, instructions, memories, summary, recalled)
        self.system = Message(role="system", content=text) if text else None
        self.memories = list(memories)
        self.summary = summary
        self.recalled = list(recalled)
        self.history = history
        self.message = message  # stored with the run, whole
        self.sent_message = sent_message or message  # sent: cut when over a token budget
        # The system message is one text: memories, summary and recalled exchanges are
        # measured by building each alone; the system part is the rest of it, so the
        # parts add up exactly.
        memory_part = estimate_tokens(system_prompt(None, None, memories)) if memories else 0
        summary_part = (estimate_tokens(system_prompt(None, None, (), summary)) if summary
                        else 0)
        recalled_part = (estimate_tokens(system_prompt(None, None, (), None, recalled))
                         if recalled else 0)
        whole = message_tokens(self.system) if self.system else 0
        self.tokens = {
            "system": max(0, whole - memory_part - summary_part - recalled_part),
            "memories": memory_part,
            "summary": summary_part,
            "recalled": recalled_part,
            "history": sum(message_tokens(m) for m in history),
            "message": message_tokens(self.sent_message),
        }

    @property
    def sent(self) -> list[Message]:
        return ([self.system] if self.system else []) + self.history + [self.sent_message]

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
                          estimated=not usable, recalled=[e.ref() for e in self.recalled])


def scaled(tokens: dict[str, int], total: int) -> dict[str, int]:
    """``tokens`` in proportion, summing to exactly ``total`` (largest remainders)."""
    estimated = sum(tokens.values())
    exact = {k: tokens[k] * total / estimated for k in CONTEXT_PARTS}
    out = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(CONTEXT_PARTS, key=lambda k: exact[k] - out[k], reverse=True)
    for k in by_remainder[:total - sum(out.values())]:
        out[k] += 1
    return out


# --- a token budget ----------------------------------------------------------------
class Calibration:
    """Per model: how the server's reported input tokens compare with our estimates.

    The ratio used is the largest of the last ``window`` reports (cautious: a budget
    must hold), 1.0 before any report. Process-wide (``runtime.shared``).
    """

    def __init__(self, window: int = 8) -> None:
        self.window = window
        self._ratios: dict[str, deque[float]] = {}
        self._guard = threading.Lock()

    def observe(self, model_id: str, estimated: int, reported: int | None) -> None:
        if not (isinstance(reported, int) and reported > 0 and estimated > 0):
            return
        ratio = min(max(reported / estimated, 0.25), 4.0)  # a wild report moves it little
        with self._guard:
            self._ratios.setdefault(model_id, deque(maxlen=self.window)).append(ratio)

    def ratio(self, model_id: str) -> float:
        with self._guard:
            found = self._ratios.get(model_id)
            return max(found) if found else 1.0

    # runtime.Resource: nothing to wait for or release.
    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        pass

    def close(self) -> None:
        with self._guard:
            self._ratios.clear()


def calibration() -> Calibration:
    return runtime.shared("listeners", "token-calibration", Calibration)


def cut_to_tokens(text: str, tokens: int) -> str:
    """``text`` cut (start and end kept, a note between) to about ``tokens`` tokens."""
    if estimate_tokens(text) <= tokens:
        return text
    note = ("\n\n[... cut: this message is ~" + str(estimate_tokens(text)) + " tokens, "
            "more than the token budget leaves room for ...]\n\n")
    room = max(0, tokens - estimate_tokens(note))
    chars = room * 4
    while chars > 0:
        head, tail = text[:chars * 2 // 3], text[len(text) - chars // 3:] if chars >= 3 else ""
        if estimate_tokens(head + note + tail) <= tokens:
            return head + note + tail
        chars = chars * 4 // 5 - 1  # JSON escapes made it longer: try shorter
    return note.strip() if estimate_tokens(note.strip()) <= tokens else ""


def fit_history(runs: Sequence[Run], room: int) -> list[Run]:
    """The newest runs whose messages fit in ``room`` estimated tokens (no gaps)."""
    picked: list[Run] = []
    for run in reversed(runs):
        cost = sum(message_tokens(m) for m in history_messages([run]))
        if cost > room:
            break
        room -= cost
        picked.append(run)
    picked.reverse()
    return picked
