"""The scripted OpenAI-compatible server the tests talk to (real HTTP on 127.0.0.1).

Each request is recorded; each answer comes from a per-kind queue of scripted
``Reply`` objects, or a deterministic default. Kinds: ``chat`` (a normal turn),
``memory`` (a request with tools: the memory manager), ``classify`` (the yes/no
memory gate), ``summary`` (a request with ``response_format``).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import threading
from typing import Any

from jupyter_agentmem.model.server import ChatServer, Reply

__all__ = ["Reply", "ScriptedServer", "kind_of"]


def kind_of(body: dict[str, Any]) -> str:
    if body.get("tools"):
        return "memory"
    if body.get("response_format"):
        return "summary"
    system = next((m.get("content") or "" for m in body.get("messages", [])
                   if m.get("role") == "system"), "")
    if "Answer yes or no" in system:
        return "classify"
    return "chat"


def _last_user(body: dict[str, Any]) -> str:
    users = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


def default_reply(kind: str, body: dict[str, Any]) -> Reply:
    if kind == "memory":
        return Reply(content="Nothing to remember.")
    if kind == "classify":
        return Reply(content="no")
    if kind == "summary":
        return Reply(content=json.dumps({"summary": "S: " + _last_user(body)[-200:],
                                         "topics": ["test"]}))
    return Reply(content="echo: " + _last_user(body))


class ScriptedServer(ChatServer):
    """A ChatServer whose answers the test scripts and whose requests it records."""

    def __init__(self) -> None:
        super().__init__(self._respond)
        self.requests: list[dict[str, Any]] = []  # {"kind", "body", "headers"}
        self._queues: dict[str, collections.deque[Reply]] = collections.defaultdict(
            collections.deque)
        self._guard = threading.Lock()
        self.log: list[tuple[str, str]] = []  # ("request"|"answered", kind): order of events

    def script(self, *replies: Reply, kind: str = "chat") -> None:
        """Answer the next requests of ``kind`` with ``replies``, in order."""
        with self._guard:
            self._queues[kind].extend(replies)

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        kind = kind_of(body)
        with self._guard:
            self.requests.append({"kind": kind, "body": body, "headers": headers})
            self.log.append(("request", kind))
            queue = self._queues[kind]
            reply = queue.popleft() if queue else default_reply(kind, body)
        return echo_headers(reply, headers)

    def _respond(self, body: dict[str, Any]) -> Reply:  # unused: answer() is overridden
        return default_reply(kind_of(body), body)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The recorded request bodies of one kind, oldest first."""
        with self._guard:
            return [r["body"] for r in self.requests if r["kind"] == kind]

    def reset(self) -> None:
        self.end_trickles()  # a trickle of an earlier test ends (its reader with it)
        with self._guard:
            self.requests.clear()
            self._queues.clear()
            self.log.clear()


ECHO_AUTHORIZATION = "<authorization>"  # in a scripted reply: the request's header


def echo_headers(reply: Reply, headers: dict[str, str]) -> Reply:
    """A server that echoes the Authorization header back (in content and tool calls)."""
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")

    def echo(text: Any) -> Any:
        return text.replace(ECHO_AUTHORIZATION, auth) if isinstance(text, str) else text

    calls = [{**c, "arguments": echo(c["arguments"]) if isinstance(c["arguments"], str)
              else {k: echo(v) for k, v in c["arguments"].items()}}
             for c in reply.tool_calls] if reply.tool_calls else reply.tool_calls
    return dataclasses.replace(reply, content=echo(reply.content), tool_calls=calls)


def roles_and_contents(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(m["role"], m.get("content")) for m in body["messages"]]
