"""A tiny, deterministic, OpenAI-compatible chat-completions server (stdlib only).

It exists so that real phidata 2.7.10 code can be run offline. It recognises the
four kinds of requests phidata's memory system sends and answers each in the
shape phidata expects:

* MemoryClassifier  (system prompt "Your task is to identify if the user's message ...")
  -> plain text "yes" / "no"
* MemoryManager     (system prompt "Your task is to generate a concise memory ...",
  tools add_memory/update_memory/delete_memory/clear_memory)
  -> a tool call add_memory(memory=...) and, after the tool result, a short text
* MemorySummarizer  (system prompt "Analyze the following conversation ...",
  response_format={"type": "json_object"})
  -> a JSON object {"summary": ..., "topics": [...]}
* the Agent itself  -> a deterministic text answer (may call the agent's
  `update_memory` tool when the user message starts with "Remember")

Both plain and streamed (SSE, with stream_options.include_usage) responses are
supported.  Every request body is appended to a JSONL log if a log path is given.

Use in-process:
    from fake_openai import start_server
    server, base_url = start_server()          # 127.0.0.1, random free port
    ...  OpenAIChat(base_url=base_url, api_key="fake")
    server.shutdown(); server.server_close()

Or as a script:  python fake_openai.py [--port N] [--log requests.jsonl]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CALL_IDS = itertools.count(1)
_COMPLETION_IDS = itertools.count(1)
_LOCK = threading.Lock()

CLASSIFIER_PREFIX = "Your task is to identify if the user's message contains information"
MANAGER_PREFIX = "Your task is to generate a concise memory for the user's message."
SUMMARIZER_PREFIX = "Analyze the following conversation between a user and an assistant"
SESSION_NAME_PREFIX = "Please provide a suitable name for this conversation"


# --------------------------------------------------------------------------- helpers
def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _system(messages: list[dict[str, Any]]) -> str:
    for m in messages:
        if m.get("role") in ("system", "developer"):
            return _text(m.get("content"))
    return ""


def _last_user(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return _text(m.get("content"))
    return ""


def _clean(s: str) -> str:
    return s.strip().rstrip("?.! ").strip()


def memory_text_for(user_input: str) -> str:
    """Third-person memory for a user message (what a real model would roughly write)."""
    u = _clean(user_input)
    m = re.match(r"(?i)^(?:remember(?: that)?\s+)?(.*)$", u)
    u = m.group(1) if m else u
    rules = [
        (r"(?i)^my name is (.+)$", "The user's name is {0}."),
        (r"(?i)^i live in (.+)$", "The user lives in {0}."),
        (r"(?i)^i(?:'m| am) going to (.+)$", "The user is going to {0}."),
        (r"(?i)^i work (?:as|at) (.+)$", "The user works as {0}."),
        (r"(?i)^i prefer (.+)$", "The user prefers {0}."),
        (r"(?i)^i like (.+)$", "The user likes {0}."),
        (r"(?i)^i(?:'m| am) (.+)$", "The user is {0}."),
    ]
    for pat, tmpl in rules:
        mm = re.match(pat, u)
        if mm:
            return tmpl.format(mm.group(1).strip())
    return f"The user said: {u}."


PERSONAL = re.compile(r"(?i)\b(my name|i live|i'm|i am|i like|i prefer|i work|remember)\b")
QUESTION = re.compile(r"(?i)^\s*(what|who|where|when|why|how|do|does|did|can|could|is|are|show|share)\b")


def _existing_memories(system: str) -> list[str]:
    out = []
    block = re.search(r"<existing_memories>\n(.*?)\n</existing_memories>", system, re.S)
    if block:
        for line in block.group(1).splitlines():
            line = line.strip()
            if line.startswith("- "):
                line = line[2:]
            # manager format: "id: <id> | memory: {'memory': '...', ...}"
            mm = re.search(r"'memory': '((?:[^'\\]|\\.)*)'", line) or re.search(r'"memory": "([^"]*)"', line)
            out.append(mm.group(1) if mm else line)
    return out


def _agent_memories(system: str) -> list[str]:
    block = re.search(r"### Memories from previous interactions\n(.*?)\n\n", system, re.S)
    if not block:
        return []
    return [ln[2:] for ln in block.group(1).splitlines() if ln.startswith("- ")]


def _agent_summary(system: str) -> dict | None:
    block = re.search(r"### Summary of previous interactions\n\n(\{.*?\n\})", system, re.S)
    if not block:
        return None
    try:
        return json.loads(block.group(1))
    except ValueError:
        return None


# --------------------------------------------------------------------------- "model"
def answer(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]] | None]:
    """Return (content, tool_calls) for a chat.completions request body."""
    messages: list[dict[str, Any]] = body.get("messages") or []
    system = _system(messages)
    last = messages[-1] if messages else {}
    tool_names = [t.get("function", {}).get("name") for t in (body.get("tools") or [])]
    user = _last_user(messages)

    # 1. MemoryClassifier
    if system.startswith(CLASSIFIER_PREFIX):
        if not PERSONAL.search(user) or QUESTION.match(user):
            return "no", None
        if memory_text_for(user) in _existing_memories(system):
            return "no", None
        return "yes", None

    # 2. MemoryManager
    if system.startswith(MANAGER_PREFIX):
        if last.get("role") == "tool":
            return "Memory added successfully.", None
        text = memory_text_for(user)
        if text in _existing_memories(system):
            return "This memory already exists.", None
        return None, [_tool_call("add_memory", {"memory": text})]

    # 3. MemorySummarizer
    if system.startswith(SUMMARIZER_PREFIX):
        conv = system.split("Conversation:\n", 1)[-1].split("\n\nProvide your output", 1)[0]
        users = [ln[len("User: "):] for ln in conv.splitlines() if ln.startswith("User: ")]
        lower = " ".join(users).lower()
        topics = []
        for key, topic in (("name", "name"), ("live", "location"), ("concert", "concert"),
                           ("horror", "horror story"), ("tea", "preferences"), ("coffee", "preferences"),
                           ("hiking", "hobbies"), ("weather", "weather"), ("pizza", "food")):
            if key in lower and topic not in topics:
                topics.append(topic)
        summary = "The user " + "; then ".join(f'said "{_clean(u)}"' for u in users) + "."
        return json.dumps({"summary": summary, "topics": topics or ["general"]}), None

    # 4. Session-name generation
    if system.startswith(SESSION_NAME_PREFIX):
        return "Personal details chat", None

    # 5. The agent itself
    if last.get("role") == "tool":
        return "Got it, I will remember that.", None
    low = user.lower()
    if low.startswith("remember") and "update_memory" in tool_names:
        return None, [_tool_call("update_memory", {"task": user})]
    if "horror story" in low:
        return ("I woke up to my phone ringing, and when I answered, my own voice whispered "
                "\"Don't go back to sleep.\" The call was coming from inside my bedroom."), None
    if "first message" in low:
        users = [_text(m.get("content")) for m in messages if m.get("role") == "user"]
        if len(users) > 1:
            return f'Your first message was: "{users[0]}"', None
        return "This is your first message in our conversation.", None
    if "markdown" in low:
        return ("# Markdown demo\n\nHere is a **bold** word, some `code` and a list:\n\n"
                "- first item\n- second item\n\n```python\nprint('hi')\n```"), None
    mm = re.match(r"(?i)^my name is (.+)$", _clean(user))
    if mm:
        return f"Nice to meet you, {mm.group(1).strip().title()}! How can I help you today?", None
    mm = re.match(r"(?i)^i live in (.+)$", _clean(user))
    if mm:
        return f"{mm.group(1).strip()} sounds like a great place to live!", None
    mm = re.match(r"(?i)^i like (.+)$", _clean(user))
    if mm:
        return f"{mm.group(1).strip().capitalize()} sounds wonderful!", None
    if "concert" in low:
        return "That sounds exciting! I hope you have a wonderful time at the concert tomorrow.", None
    if "my name" in low or "talking about" in low or "what do you know" in low:
        mems = _agent_memories(system)
        summ = _agent_summary(system)
        parts = []
        if summ:
            parts.append(f"So far: {summ.get('summary')}")
        if mems:
            parts.append("What I remember about you: " + " ".join(mems))
        if not parts:
            parts.append("I don't know anything about you yet.")
        return " ".join(parts), None
    return f"You said: {user}", None


def _tool_call(name: str, args: dict[str, Any]) -> dict[str, Any]:
    with _LOCK:
        n = next(_CALL_IDS)
    return {"id": f"call_{n:04d}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def _usage(body: dict[str, Any], content: str | None, tool_calls) -> dict[str, int]:
    prompt = sum(len(_text(m.get("content")).split()) for m in body.get("messages") or [])
    completion = len((content or "").split()) + (len(json.dumps(tool_calls).split()) if tool_calls else 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


# --------------------------------------------------------------------------- HTTP
class Handler(BaseHTTPRequestHandler):
    server_version = "fake-openai/1.0"
    log_path: str | None = None

    def log_message(self, fmt, *args):  # keep stderr quiet
        pass

    def _json(self, code: int, obj: Any) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.rstrip("/").endswith("/models"):
            return self._json(200, {"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]})
        self._json(404, {"error": {"message": "not found"}})

    def do_POST(self):
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._json(404, {"error": {"message": f"unknown path {self.path}"}})
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        log_path = getattr(self.server, "log_path", None)
        if log_path:
            with _LOCK, open(log_path, "a") as f:
                f.write(json.dumps(body) + "\n")
        content, tool_calls = answer(body)
        delay = float(getattr(self.server, "delay", 0.0) or 0.0)
        if delay and not body.get("stream"):
            time.sleep(delay * 5)
        with _LOCK:
            cid = f"chatcmpl-fake{next(_COMPLETION_IDS):05d}"
        created = int(time.time())
        model = body.get("model", "gpt-4o")
        usage = _usage(body, content, tool_calls)
        if not body.get("stream"):
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            return self._json(200, {
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": "tool_calls" if tool_calls else "stop"}],
                "usage": usage,
            })
        # streaming (SSE)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

        def chunk(delta: dict[str, Any], finish: str | None = None, choices: bool = True, use=None):
            obj: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created,
                                   "model": model,
                                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                "finish_reason": finish}] if choices else []}
            if use is not None:
                obj["usage"] = use
            if delay:
                time.sleep(delay)
            self.wfile.write(b"data: " + json.dumps(obj).encode() + b"\n\n")
            self.wfile.flush()

        chunk({"role": "assistant", "content": "" if content is not None else None})
        if tool_calls:
            for i, tc in enumerate(tool_calls):
                chunk({"tool_calls": [{"index": i, "id": tc["id"], "type": "function",
                                       "function": {"name": tc["function"]["name"], "arguments": ""}}]})
                args = tc["function"]["arguments"]
                for j in range(0, len(args), 16):
                    chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j:j + 16]}}]})
        if content:
            for piece in re.findall(r"\S+\s*|\s+", content):
                chunk({"content": piece})
        chunk({}, finish="tool_calls" if tool_calls else "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk({}, choices=False, use=usage)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def start_server(port: int = 0, log_path: str | None = None,
                 delay: float = 0.0) -> tuple[ThreadingHTTPServer, str]:
    """Start the server on 127.0.0.1 in a daemon thread; return (server, base_url).

    delay: seconds to sleep before each streamed chunk (5x that before a plain response),
    to make live terminal rendering observable.
    """
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.log_path = log_path  # type: ignore[attr-defined]
    server.delay = delay  # type: ignore[attr-defined]
    t = threading.Thread(target=server.serve_forever, name="fake-openai", daemon=True)
    t.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append every request body to this JSONL file")
    ap.add_argument("--port-file", default=None, help="write the chosen port here")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each streamed chunk")
    a = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.log_path = a.log  # type: ignore[attr-defined]
    server.delay = a.delay  # type: ignore[attr-defined]
    port = server.server_address[1]
    if a.port_file:
        with open(a.port_file, "w") as f:
            f.write(str(port))
    print(f"fake OpenAI server on http://127.0.0.1:{port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
