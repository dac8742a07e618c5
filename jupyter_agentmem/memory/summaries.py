"""Session summaries, kept incrementally: the previous summary plus the runs since it.

A new version is stored each time, so the summary request never grows with the
session (phidata re-summarises the whole session on every turn).
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..model import ChatModel, ModelError
from ..store import Store
from ..types import Run, SessionSummary

SUMMARY_PROMPT = """You keep a running summary of a conversation between a user and an
assistant. You are given the summary so far (it may be empty) and the turns that came
after it. Return the updated summary as JSON: {"summary": "...", "topics": ["..."]}.
Keep what matters for continuing the conversation (facts, decisions, open questions),
drop small talk, stay under 200 words, and list up to 6 short topics."""

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "session_summary",
        "schema": {
            "type": "object",
            "properties": {"summary": {"type": "string"},
                           "topics": {"type": "array", "items": {"type": "string"}}},
            "required": ["summary", "topics"],
            "additionalProperties": False,
        },
    },
}
# Servers without json_schema support usually take json_object; the last resort is
# plain text with the JSON asked for in the prompt.
FORMATS: list[dict[str, Any] | None] = [SCHEMA, {"type": "json_object"}, None]

MAX_RUNS_PER_UPDATE = 20  # a summariser that fell behind catches up in bounded steps
MAX_UPDATES = 50  # steps of one catch-up (1,000 runs); the next one goes on from there


def summary_due(store: Store, session_id: str, history_window: int) -> bool:
    """True when a run the summary lacks has left the history window (the prompt
    would miss it): more than ``history_window`` runs came after the summary."""
    previous = store.latest_summary(session_id)
    after = previous.through_run_seq if previous is not None else -1
    return len(store.runs_after(session_id, after, limit=history_window + 1)) > history_window


def summary_messages(previous: SessionSummary | None, runs: list[Run]) -> list[dict[str, Any]]:
    turns = "\n\n".join(
        "\n".join(f"{m.role.capitalize()}: {m.content or ''}" for m in run.messages
                  if m.role in ("user", "assistant"))
        for run in runs)
    so_far = previous.summary if previous is not None else "(no summary yet)"
    return [
        {"role": "system", "content": SUMMARY_PROMPT},
        {"role": "user", "content": "Summary so far:\n" + so_far + "\n\nNew turns:\n" + turns},
    ]


def parse_summary(text: str | None) -> tuple[str, list[str]]:
    """``{"summary", "topics"}`` from a model answer (code fences tolerated)."""
    if not text:
        raise ValueError("the model returned no summary")
    body = re.sub(r"^```(?:json)?\s*|\s*```$", "", text.strip())
    data = json.loads(body)
    summary = data.get("summary") if isinstance(data, dict) else None
    if not isinstance(summary, str) or not summary.strip():
        raise ValueError("the summary is missing or empty")
    topics = data.get("topics") or []
    return summary.strip(), [str(t) for t in topics] if isinstance(topics, list) else []


# A server that does not know a response_format refuses the request with one of these.
REFUSED_FORMAT = (400, 422)


def _ask(model: ChatModel, messages: list[dict[str, Any]]) -> str | None:
    last: ModelError | None = None
    for fmt in FORMATS:
        try:
            return model.response(messages, response_format=fmt).content
        except ModelError as exc:
            # Only a refused response_format is worth another format; 5xx etc. are not.
            if exc.status_code not in REFUSED_FORMAT:
                raise
            last = exc
    raise last or ModelError("no summary")


def update_session_summary(store: Store, model: ChatModel,
                           session_id: str) -> SessionSummary | None:
    """Fold the runs since the last summary into a new version; None if none are new."""
    previous = store.latest_summary(session_id)
    after = previous.through_run_seq if previous is not None else -1
    runs = store.runs_after(session_id, after, limit=MAX_RUNS_PER_UPDATE)
    if not runs:
        return None
    try:
        summary, topics = parse_summary(_ask(model, summary_messages(previous, runs)))
    except ValueError as exc:
        raise ValueError(f"the summary answer was not usable JSON ({exc})") from None
    # Provenance: the runs folded in and the version built on (a purge of any of them
    # removes this version: sql/purge.py).
    return store.add_summary(SessionSummary(session_id=session_id, summary=summary,
                                            topics=topics, through_run_seq=runs[-1].seq),
                             runs=runs,
                             based_on=previous.version if previous is not None else None)
