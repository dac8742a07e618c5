"""The offline demo model: a deterministic OpenAI-compatible server, not an LLM.

``model=demo`` talks to it through the same ``openai`` client as a real model, so a
fresh machine with no key and no network can run the quickstart and see history,
memories and summaries at work.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .. import runtime
from .openai_chat import OpenAIChat
from .server import ChatServer, Reply

DEMO_BANNER = "[demo model: a scripted echo, not an LLM]"

_FACTS = [
    (re.compile(r"\bmy name is ([^.,!?\n]+)", re.I), "The user's name is {}.", "name"),
    (re.compile(r"\bi live in ([^.,!?\n]+)", re.I), "The user lives in {}.", "location"),
    (re.compile(r"\bi(?: am|'m) going to ([^.,!?\n]+)", re.I), "The user is going to {}.",
     "plans"),
    (re.compile(r"\bi (?:like|love) ([^.,!?\n]+)", re.I), "The user likes {}.", "preferences"),
]


def _text(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else json.dumps(content)


def _chat_reply(messages: list[dict[str, Any]]) -> str:
    users = [_text(m) for m in messages if m.get("role") == "user"]
    system = next((_text(m) for m in messages if m.get("role") == "system"), "")
    lines = [DEMO_BANNER, f"You said: {users[-1] if users else '(nothing)'}"]
    earlier = users[:-1]
    if earlier:
        lines.append(f"I was sent {len(earlier)} earlier message(s) of this session; "
                     f"the first was: {earlier[0]}")
    else:
        lines.append("I was sent no earlier messages of this session.")
    if "<memories>" in system:
        facts = system.split("<memories>", 1)[1].split("</memories>", 1)[0].strip()
        # A blank line before the list, or Markdown runs it into the sentence.
        lines.append("What I remember about you:\n\n" + facts)
    if "<summary>" in system:
        summary = system.split("<summary>", 1)[1].split("</summary>", 1)[0].strip()
        lines.append(f"Summary of our earlier conversation: {summary}")
    return "\n\n".join(lines)


def _memory_calls(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Only the user's own words of the latest exchange, not the kept memories or the reply.
    request = "\n".join(_text(m) for m in messages if m.get("role") == "user")
    latest = request.rsplit("Latest exchange:", 1)[-1]
    text = "\n".join(line[len("User: "):] for line in latest.splitlines()
                     if line.startswith("User: "))
    calls = []
    for pattern, template, topic in _FACTS:
        for match in pattern.finditer(text):
            calls.append({"name": "add_memory",
                          "arguments": {"memory": template.format(match.group(1).strip()),
                                        "topics": [topic]}})
    return calls


def _summary(messages: list[dict[str, Any]]) -> str:
    # Incremental like a real summariser: the summary so far plus the new user lines.
    request = "\n".join(_text(m) for m in messages if m.get("role") == "user")
    so_far = request.split("Summary so far:\n", 1)[-1].split("\n\nNew turns:", 1)[0]
    said = re.findall(r"^User: (.+)$", request.split("New turns:", 1)[-1], re.M)
    parts = ([] if so_far.startswith("(no summary") else [so_far]) + [
        "the user said: " + s for s in said]
    summary = "; ".join(parts)[-600:] or "Nothing yet."
    return json.dumps({"summary": summary, "topics": ["demo"]})


def demo_responder(body: dict[str, Any]) -> Reply:
    messages = body.get("messages", [])
    if body.get("tools"):
        return Reply(content=None if _memory_calls(messages) else "nothing to remember",
                     tool_calls=_memory_calls(messages) or None)
    if body.get("response_format"):
        return Reply(content=_summary(messages))
    return Reply(content=_chat_reply(messages))


def demo_base_url() -> str:
    """Start the demo server once per process; return its base URL."""
    server = runtime.shared("servers", "demo-model", lambda: ChatServer(demo_responder).start())
    return server.base_url


def demo_model() -> OpenAIChat:
    return OpenAIChat(id="demo", base_url=demo_base_url(), api_key="demo", max_retries=0)
