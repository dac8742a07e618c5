"""User memories: after a run, one model call with tools decides what to keep about the user.

The model sees the user's live memories under short ids (``m1``, ``m2``...) that
are mapped back here, so it can neither touch another user's memory nor invent an
id. A bad call (broken JSON, unknown tool or id, an empty, too long or invalid memory,
topics that are not up to 10 short strings) is skipped with a warning; the others
are applied, at most ``MAX_CALLS_PER_ANSWER`` of them.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..model import ChatModel
from ..store import Store, StoreError
from ..store.values import text_problem
from ..types import Memory, Run
from .selection import select_memories

# Bounds on one answer (the server's answer is untrusted): 500 calls kept the worker
# busy for over 60 s, and a 1 MB memory made every later add ~0.2 s slower (its
# duplicate check compares against every kept memory).
MAX_CALLS_PER_ANSWER = 20
MEMORY_MAX_CHARS = 2_000
TOPICS_MAX = 10
TOPIC_MAX_CHARS = 50

MANAGER_PROMPT = """You manage the long-term memories an assistant keeps about one user.
Given the user's latest message, the assistant's reply and the memories already kept,
decide what to remember. Call add_memory for a new, lasting fact about the user (their
name, where they live, preferences, plans, relationships), written as one short
third-person sentence ("The user's name is John."), with one or two topics. Call
update_memory when a kept memory changed or needs correcting, and delete_memory when
the user asks to forget something or it is no longer true. Refer to kept memories only
by the ids shown. Do not store the assistant's own words, passing small talk, or a
fact that is already kept. If nothing is worth remembering, call no tool."""

CLASSIFY_PROMPT = """Decide whether the user's message contains information about the user
worth remembering in future conversations: personal facts, preferences, plans,
relationships, corrections of earlier facts. Answer yes or no, nothing else."""


def _tool(name: str, description: str, properties: dict[str, Any],
          required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required}}}


_TOPICS = {"type": "array", "items": {"type": "string"}, "description": "1-2 short topics"}
_ID = {"type": "string", "description": "the id of a kept memory, e.g. m1"}
TOOLS = [
    _tool("add_memory", "Remember a new fact about the user.",
          {"memory": {"type": "string"}, "topics": _TOPICS}, ["memory"]),
    _tool("update_memory", "Replace a kept memory with a corrected one.",
          {"memory_id": _ID, "memory": {"type": "string"}, "topics": _TOPICS},
          ["memory_id", "memory"]),
    _tool("delete_memory", "Forget a kept memory.", {"memory_id": _ID}, ["memory_id"]),
]


@dataclass
class MemoryUpdate:
    """What one manager call changed, and what it skipped and why."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # malformed calls: warned about
    duplicates: list[str] = field(default_factory=list)  # already kept: dropped quietly

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def describe(self) -> str | None:
        """``memories +1 ~1 -1``, with what was skipped; None when nothing happened."""
        counts = [f"{sign}{len(ids)}" for sign, ids in
                  (("+", self.added), ("~", self.updated), ("-", self.deleted)) if ids]
        if self.skipped:
            counts.append(f"{len(self.skipped)} bad change(s) skipped")
        return "memories " + " ".join(counts) if counts else None


def normalise(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def is_duplicate(text: str, existing: list[Memory], threshold: float = 0.9) -> bool:
    """True when ``text`` says what a kept memory says (exactly or nearly)."""
    norm = normalise(text)
    return any(difflib.SequenceMatcher(None, norm, normalise(m.memory)).ratio() >= threshold
               for m in existing)


def _transcript(run: Run) -> str:
    parts = []
    if run.message is not None:
        parts.append("User: " + (run.message.content or ""))
    if run.response is not None:
        parts.append("Assistant: " + (run.response.content or ""))
    return "\n".join(parts)


_FENCED = re.compile(r"```.*?(?:```|$)", re.S)
_CODE_LINE = re.compile(
    r"^\s*($|#|//|>>>|\.\.\.|[{}\[\]();,]|(def|class|import|from|return|for|while|if|elif|"
    r"else|try|except|with|lambda|print|SELECT|INSERT|UPDATE|DELETE|CREATE)\b|"
    r"[\w.\[\]'\"]+\s*(=|\+=|-=|\()|%|!|\$ )")
_ABOUT_CHAT = re.compile(
    r"\b(what (did|have) (i|you) (just )?(say|said|ask|asked|write|wrote)|"
    r"my (first|last|previous|earlier) (message|question|prompt)|"
    r"(this|our|the) (conversation|chat|thread)|(summari[sz]e|recap|repeat) (that|this|it|"
    r"our|the|what)|what were we (talking|discussing)|say (that|it) again)\b", re.I)
_FIRST_PERSON = re.compile(
    r"\b(i am|i'm|i live|i like|i love|i hate|i work|i have|i've|i was|i will|i'll|"
    r"i prefer|i want|i need|call me|my name|my (wife|husband|partner|son|daughter|job|"
    r"dog|cat|birthday|favou?rite))\b", re.I)


def may_hold_a_fact(text: str | None) -> bool:
    """A cheap local check before any model call: ``False`` for a message that cannot
    tell anything lasting about the user: empty, only code, or only a question about
    the conversation itself ("what was my first message?")."""
    if not text or not text.strip():
        return False
    prose = _FENCED.sub("", text)
    lines = [line for line in prose.splitlines() if line.strip()]
    if not lines or all(_CODE_LINE.match(line) for line in lines):
        return False
    if _ABOUT_CHAT.search(prose) and not _FIRST_PERSON.search(prose) and len(prose) < 300:
        return False
    return True


def worth_remembering(model: ChatModel, run: Run) -> bool:
    """phidata's yes/no gate: skip the manager call when nothing is worth keeping."""
    answer = model.response([
        {"role": "system", "content": CLASSIFY_PROMPT},
        {"role": "user", "content": run.message.content if run.message else ""},
    ]).content or ""
    return answer.strip().lower().startswith("yes")


def manager_messages(run: Run, existing: list[Memory]) -> list[dict[str, Any]]:
    kept = "\n".join(f"[m{i}] {m.memory} (topics: {', '.join(m.topics) or '-'})"
                     for i, m in enumerate(existing, start=1)) or "(none yet)"
    return [
        {"role": "system", "content": MANAGER_PROMPT},
        {"role": "user", "content": "Memories kept about this user:\n" + kept
         + "\n\nLatest exchange:\n" + _transcript(run)},
    ]


def update_user_memories(store: Store, model: ChatModel, run: Run, user_id: str,
                         classify: bool = False, limit: int = 30,
                         selected: Sequence[Memory] | None = None) -> MemoryUpdate:
    """Ask the model what to keep from ``run`` about ``user_id`` and apply it.

    The model is shown at most ``limit`` kept memories: the ones relevant to the
    message and the newest (memory/selection.py), never an unbounded list;
    ``selected``: the memories the run's prompt carried (selected for the same message
    just before the run: shown as they are, no statement while the next turn waits).
    """
    result = MemoryUpdate()
    if run.message is None or not may_hold_a_fact(run.message.content):
        return result  # no model call at all
    if classify and not worth_remembering(model, run):
        return result
    existing = (list(selected) if selected is not None
                else select_memories(store, user_id, run.message.content, limit))
    short_ids = {f"m{i}": m for i, m in enumerate(existing, start=1)}
    answer = model.response(manager_messages(run, existing), tools=TOOLS)
    calls = answer.tool_calls
    if len(calls) > MAX_CALLS_PER_ANSWER:
        result.skipped.append(f"{len(calls) - MAX_CALLS_PER_ANSWER} more tool calls in one "
                              f"answer ignored (at most {MAX_CALLS_PER_ANSWER} are applied)")
    for call in calls[:MAX_CALLS_PER_ANSWER]:
        if not isinstance(call, dict):
            result.skipped.append("a tool call that is not an object")
            continue
        name = call.get("function", {}).get("name", "")
        try:
            args = json.loads(call.get("function", {}).get("arguments") or "{}")
            if not isinstance(args, dict):
                raise ValueError("arguments are not an object")
        except ValueError as exc:
            result.skipped.append(f"{name}: arguments are not valid JSON ({exc})")
            continue
        apply = _APPLY.get(name)
        if apply is None:
            result.skipped.append(f"unknown tool {name!r}")
            continue
        target = None if name == "add_memory" else _known(args, short_ids)
        if isinstance(target, str):  # update/delete of an id the model was not shown
            result.skipped.append(f"{name}: {target}")
            continue
        try:
            problem = apply(store, run, user_id, args, target, existing, result)
        except StoreError as exc:  # e.g. the memory was deleted meanwhile (panel, another call)
            problem = str(exc)
        if problem:
            result.skipped.append(f"{name}: {problem}")
    return result


def _text_and_topics(args: dict[str, Any]) -> tuple[str, list[str]] | str:
    """The memory and its topics from a call's arguments, or why the call is skipped."""
    memory = args.get("memory")
    if not isinstance(memory, str) or not memory.strip():
        return "empty memory"
    memory = memory.strip()
    if len(memory) > MEMORY_MAX_CHARS:
        return f"a memory of {len(memory)} characters (at most {MEMORY_MAX_CHARS})"
    topics = args.get("topics")
    topics = [] if topics is None else [topics] if isinstance(topics, str) else topics
    if not isinstance(topics, list):
        return f"topics must be a list of strings, not {type(topics).__name__}"
    if len(topics) > TOPICS_MAX:
        return f"{len(topics)} topics (at most {TOPICS_MAX})"
    if any(not isinstance(t, str) for t in topics):
        return "topics must be strings, got " + ", ".join(
            sorted({type(t).__name__ for t in topics if not isinstance(t, str)}))
    topics = [t.strip() for t in topics if t.strip()]
    if any(len(t) > TOPIC_MAX_CHARS for t in topics):
        return f"a topic longer than {TOPIC_MAX_CHARS} characters"
    for text in (memory, *topics):
        problem = text_problem(text)
        if problem:
            return "the memory " + problem
    return memory, topics


def _add(store: Store, run: Run, user_id: str, args: dict[str, Any],
         target: None, existing: list[Memory], result: MemoryUpdate) -> str | None:
    parsed = _text_and_topics(args)
    if isinstance(parsed, str):
        return parsed
    text, topics = parsed
    if is_duplicate(text, existing):
        result.duplicates.append(text)
        return None
    memory = store.as_user(user_id).add_memory(Memory(user_id=user_id, memory=text, topics=topics,
                                     input=run.message.content if run.message else None,
                                     session_id=run.session_id), actor="model",
                              runs=[run])  # provenance: a purge of the run removes it
    existing.append(memory)  # a second identical add in the same answer is a duplicate too
    result.added.append(memory.memory_id)
    return None


def _known(args: dict[str, Any], short_ids: dict[str, Memory]) -> Memory | str:
    memory_id = str(args.get("memory_id", "")).strip().strip("[]")
    found = short_ids.get(memory_id)
    return found if found is not None else f"unknown memory id {memory_id!r}"


def _update(store: Store, run: Run, user_id: str, args: dict[str, Any],
            target: Memory, existing: list[Memory], result: MemoryUpdate) -> str | None:
    parsed = _text_and_topics(args)
    if isinstance(parsed, str):
        return parsed
    text, topics = parsed
    if normalise(text) == normalise(target.memory) and (not topics or topics == target.topics):
        return None  # no change: nothing to record
    # The manager was shown ``target`` as the prompt read it: an edit made since (the
    # panel, another kernel) is the user's and is kept (StaleEdit: skipped and said).
    store.as_user(user_id).update_memory(target.memory_id, text, topics or None,
                                         actor="model", runs=[run],
                                         expected={"memory": target.memory,
                                                   "topics": target.topics})
    result.updated.append(target.memory_id)
    return None


def _delete(store: Store, run: Run, user_id: str, args: dict[str, Any],
            target: Memory, existing: list[Memory], result: MemoryUpdate) -> str | None:
    if target.memory_id in result.deleted:
        return None
    store.as_user(user_id).delete_memory(target.memory_id, actor="model")
    result.deleted.append(target.memory_id)
    return None


_APPLY = {"add_memory": _add, "update_memory": _update, "delete_memory": _delete}
