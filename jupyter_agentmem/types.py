"""The vocabulary every layer shares: messages, runs, memories, summaries (pydantic)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, Field

Role = Literal["system", "user", "assistant", "tool"]
# "interrupted": the process stopped after the user's message was stored and before
# the reply was (store/sql/staged.py); such a run holds the user's message only.
RunStatus = Literal["ok", "error", "cancelled", "interrupted"]
INTERRUPTED_ERROR = "the process stopped before the reply was stored"

# The tags that delimit the parts of a system prompt (memory/history.py: memories, the
# summary; memory/recall.py: recalled exchanges). A stored text holding one (a user's
# message, a model-written memory or summary) is sent with its "<" made "‹" so that it
# cannot end its block early and speak from outside it; a purge (store/sql/purge.py)
# looks for a text in that form too.
_PROMPT_TAG = re.compile(r"<(/?(?:recalled|exchange|memories|summary)\b)", re.IGNORECASE)


def without_prompt_tags(text: str) -> str:
    """``text`` as the system prompt carries it: no tag of the prompt's blocks."""
    return _PROMPT_TAG.sub("\u2039\\1", text)


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    # Stored as naive UTC: DuckDB's TIMESTAMP has no zone and needs no ICU lookup.
    return datetime.now(timezone.utc).replace(tzinfo=None)


class Message(BaseModel):
    """One chat message, as sent to the model and as stored."""

    role: Role
    content: str | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    message_id: str = Field(default_factory=new_id)
    created_at: datetime = Field(default_factory=utcnow)

    def to_openai(self) -> dict[str, Any]:
        """The dict the chat-completions API takes for this message."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out


class Usage(BaseModel):
    input_tokens: int | None = None
    output_tokens: int | None = None


CONTEXT_PARTS = ("system", "memories", "summary", "recalled", "history", "message")


class RecalledRun(BaseModel):
    """An earlier exchange a run's prompt recalled (``recall=N``): where it came from."""

    session_id: str
    run_id: str
    seq: int | None = None


class RunContext(BaseModel):
    """What the model saw in one run: the request's messages exactly as sent, and how its
    input tokens split between the parts of the prompt (``CONTEXT_PARTS``)."""

    messages: list[dict[str, Any]]
    tokens: dict[str, int]
    recalled: list[RecalledRun] = Field(default_factory=list)  # recall=N: which exchanges
    session_id: str | None = None  # the run's session, when read back from the store
    estimated: bool = True  # False once scaled to the input tokens the server reported


class Run(BaseModel):
    """One exchange in a session: the user's message, tool calls, the reply."""

    run_id: str = Field(default_factory=new_id)
    session_id: str
    seq: int | None = None  # assigned by the store when the run is appended
    status: RunStatus = "ok"
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    messages: list[Message] = Field(default_factory=list)
    context: RunContext | None = None  # the request sent (stored apart, by hash)
    cell_id: str | None = None  # the notebook cell it came from (JupyterLab, Notebook 7)
    superseded_by: str | None = None  # the re-run of the same cell that replaced it
    supersede_cell: bool = Field(default=False, exclude=True)  # on append: replace the
    # earlier runs of ``cell_id`` in this session (an instruction, not stored)

    @property
    def message(self) -> Message | None:
        """The user's message of this run (phidata's ``AgentRun.message``)."""
        return next((m for m in self.messages if m.role == "user"), None)

    @property
    def response(self) -> Message | None:
        """The final assistant message of this run."""
        return next((m for m in reversed(self.messages) if m.role == "assistant"), None)


class SessionInfo(BaseModel):
    session_id: str
    user_id: str | None = None
    agent_name: str | None = None
    model: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    session_name: str | None = None


def _phidata_first(model: BaseModel, first: tuple[tuple[str, Any], ...],
                   same: tuple[str, ...] = ()) -> Any:
    # ``rich.pretty.pprint`` and ``repr`` show phidata's fields first, then ours
    # (``same``: ours that phidata's first ones already show under another name).
    shown = {name for name, _ in first} | set(same)
    yield from first
    for name, value in BaseModel.__repr_args__(model):
        if name not in shown:
            yield name, value


class Memory(BaseModel):
    """A fact about one user, kept across sessions.

    Printed as phidata prints its ``Memory``: ``memory, id, topic, input`` first.
    """

    memory_id: str = Field(default_factory=new_id)
    user_id: str
    memory: str
    topics: list[str] = Field(default_factory=list)
    input: str | None = None
    session_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None

    @property
    def id(self) -> str:  # noqa: A003 (phidata's name)
        return self.memory_id

    @property
    def topic(self) -> str | None:
        """phidata's single ``topic``: the first of ours."""
        return self.topics[0] if self.topics else None

    def __repr_args__(self) -> Any:
        return _phidata_first(self, (("memory", self.memory), ("id", self.memory_id),
                                     ("topic", self.topic), ("input", self.input)),
                              same=("memory_id",))

    def to_dict(self) -> dict[str, Any]:
        """phidata's ``Memory.to_dict()``: the set fields of ``memory, topic, input``."""
        return {k: v for k, v in (("memory", self.memory), ("topic", self.topic),
                                  ("input", self.input)) if v is not None}


class SessionSummary(BaseModel):
    """One version of a session's summary (printed ``summary, topics`` first, as phidata's)."""

    session_id: str
    version: int = 0
    summary: str
    topics: list[str] = Field(default_factory=list)
    through_run_seq: int = -1
    created_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = None

    def __repr_args__(self) -> Any:
        return _phidata_first(self, (("summary", self.summary), ("topics", self.topics)))

    def to_dict(self) -> dict[str, Any]:
        """phidata's ``SessionSummary.to_dict()``."""
        return {"summary": self.summary, **({"topics": self.topics} if self.topics else {})}


class RunResponse(BaseModel):
    """What ``Agent.run`` returns (phidata's name)."""

    content: str | None = None
    run_id: str
    session_id: str
    status: RunStatus = "ok"
    model: str | None = None
    error: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    messages: list[Message] = Field(default_factory=list)
    stored: bool = True  # False when the store refused the run (the reply is still here)
    # phidata's fields of the same object (``content_type``, ``event``, ``metrics``).
    content_type: str = "str"
    event: str = "RunResponse"

    @property
    def metrics(self) -> dict[str, Any]:
        """phidata's per-run metrics, from what we measured."""
        found = {"time": None if self.latency_ms is None else self.latency_ms / 1000,
                 "input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        return {k: v for k, v in found.items() if v is not None}


class ModelCall(BaseModel):
    """One call to a model (a row of the usage ledger): chat, memory or summary work."""

    kind: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    ok: bool = True
    session_id: str | None = None
    user_id: str | None = None
    run_id: str | None = None
    call_id: str = Field(default_factory=new_id)
    created_at: datetime = Field(default_factory=utcnow)


class AgentRun(BaseModel):
    """phidata's ``AgentRun``: one run as ``agent.memory.runs`` lists it."""

    message: Message | None = None
    messages: list[Message] | None = None
    response: RunResponse | None = None


class AgentSession(BaseModel):
    """phidata's ``AgentSession``: one session in the row shape of phidata's storage."""

    session_id: str
    agent_id: str | None = None
    user_id: str | None = None
    memory: dict[str, Any] | None = None
    agent_data: dict[str, Any] | None = None
    user_data: dict[str, Any] | None = None
    session_data: dict[str, Any] | None = None
    created_at: int | None = None
    updated_at: int | None = None


class MemoryRow(BaseModel):
    """phidata's ``MemoryRow``: one memory as a memory db reads it."""

    memory: dict[str, Any]
    user_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    id: str | None = None  # noqa: A003 (phidata's name)
