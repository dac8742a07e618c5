"""phidata's row shapes built from our store: ``AgentSession``, ``AgentRun``, ``MemoryRow``.

phidata keeps a session as one row whose ``memory`` column is a JSON value with the
runs and messages; we keep normalised tables. These functions give phidata's shape
for its storage and memory-db methods (``read``, ``get_all_sessions``,
``read_memories``) and ``agent.memory.runs``.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from ..types import AgentRun, AgentSession, Memory, MemoryRow, Message, Run, RunResponse
from .base import Store


def epoch(moment: datetime | None) -> int | None:
    """Our naive-UTC timestamp as phidata's integer seconds."""
    return None if moment is None else calendar.timegm(moment.utctimetuple())


def message_dict(message: Message) -> dict[str, Any]:
    """phidata's ``Message.to_dict()``: role and content, plus the tool fields when set."""
    return {**message.to_openai(), "created_at": epoch(message.created_at)}


def agent_run(run: Run) -> AgentRun:
    """One stored run as phidata's ``AgentRun`` (``response`` is a ``RunResponse``)."""
    reply = run.response
    return AgentRun(message=run.message, response=RunResponse(
        content=reply.content if reply is not None else None, run_id=run.run_id,
        session_id=run.session_id, status=run.status, model=run.model, error=run.error,
        input_tokens=run.input_tokens, output_tokens=run.output_tokens,
        latency_ms=run.latency_ms, messages=list(run.messages)))


def run_dict(run: Run) -> dict[str, Any]:
    response = agent_run(run).response
    assert response is not None
    return {"message": message_dict(run.message) if run.message else None,
            "response": {"content": response.content, "content_type": "str",
                         "event": "RunResponse",
                         "messages": [message_dict(m) for m in run.messages],
                         "metrics": response.metrics, "model": run.model,
                         "run_id": run.run_id, "session_id": run.session_id,
                         "created_at": epoch(run.created_at)}}


def agent_session(store: Store, session_id: str, memory_store: Store | None = None,
                  flags: dict[str, Any] | None = None) -> AgentSession | None:
    """The session as phidata's ``AgentSession`` (``None`` if it does not exist, or is
    not for ``store``'s acting user to see)."""
    info = store.get_session(session_id)
    if info is None:
        return None
    runs = [r for r in store.session_runs(session_id) if r.status == "ok"]
    summary = store.latest_summary(session_id)
    user = info.user_id
    # The memories are the acting user's (never another's: a session nobody owns shows
    # none).
    memories = ((memory_store or store).user_memories()
                if user and user == store.user_id else [])
    memory: dict[str, Any] = {
        "runs": [run_dict(r) for r in runs],
        "messages": [message_dict(m) for r in runs for m in r.messages],
        **(flags or {}),
        **({"user_id": user} if user else {}),
        **({"summary": summary.to_dict()} if summary else {}),
        **({"memories": [m.to_dict() for m in memories]} if memories else {}),
    }
    return AgentSession(
        session_id=info.session_id, user_id=user, memory=memory,
        agent_data={"name": info.agent_name, "model": {"id": info.model}},
        session_data={"session_name": info.session_name} if info.session_name else {},
        created_at=epoch(info.created_at), updated_at=epoch(info.updated_at))


def memory_row(memory: Memory) -> MemoryRow:
    """One of our memories as phidata's ``MemoryRow``."""
    return MemoryRow(memory=memory.to_dict(), user_id=memory.user_id,
                     created_at=memory.created_at, updated_at=memory.updated_at,
                     id=memory.memory_id)
