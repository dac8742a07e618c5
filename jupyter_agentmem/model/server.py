"""A small OpenAI-compatible chat-completions server (stdlib, 127.0.0.1 only).

It serves the offline demo model and the tests: the real ``openai`` client talks
HTTP to it. What it answers is decided by a *responder*, a function from the
request body to a ``Reply``.
"""

from __future__ import annotations

import json
import socketserver
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer."""

    content: str | None = ""
    tool_calls: list[dict[str, Any]] | None = None  # [{"name":..., "arguments": {...}}]
    status: int = 200  # an HTTP error status makes the server answer with an error body
    delay: float = 0.0  # seconds before answering
    chunk_delay: float = 0.0  # seconds between streamed chunks
    cut_after: int | None = None  # streaming: drop the connection after this many chunks
    close_without_answer: bool = False  # drop the connection before answering
    raw_body: bytes | None = None  # answer 200 with these bytes instead (a broken server)
    raw_content_type: str = "text/html"
    usage: Any = None  # sent as ``usage`` instead of the estimate (a broken server's figures)
    # A server that never finishes: after the content, this text again every
    # ``chunk_delay`` seconds (0.5 when unset) for ever, until the client goes; a
    # whole (non-streamed) answer is then a body of spaces that never ends.
    trickle: str | None = None


Responder = Callable[[dict[str, Any]], Reply]


def estimate_tokens(text: str) -> int:
    """A stable stand-in for a tokenizer: ~4 characters per token."""
    return max(1, (len(text) + 3) // 4) if text else 0


def prompt_tokens(body: dict[str, Any]) -> int:
    return sum(estimate_tokens(json.dumps(m.get("content") or "")) + 3
               for m in body.get("messages", []))


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": call.get("id") or f"call_{i}_{uuid.uuid4().hex[:8]}", "type": "function",
         "function": {"name": call["name"],
                      "arguments": call["arguments"] if isinstance(call["arguments"], str)
                      else json.dumps(call["arguments"])}}
        for i, call in enumerate(reply.tool_calls or [])
    ]


@dataclass
class _Completion:
    body: dict[str, Any]
    reply: Reply
    id: str = field(default_factory=lambda: "chatcmpl-" + uuid.uuid4().hex[:12])
    created: int = field(default_factory=lambda: int(time.time()))

    def usage(self) -> Any:
        if self.reply.usage is not None:
            return self.reply.usage
        p = prompt_tokens(self.body)
        c = estimate_tokens(self.reply.content or "") + sum(
            estimate_tokens(json.dumps(t)) for t in self.reply.tool_calls or [])
        return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.reply.content}
        finish = "stop"
        if self.reply.tool_calls:
            message["tool_calls"] = _tool_calls(self.reply)
            finish = "tool_calls"
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.body.get("model", "test"),
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": self.usage()}

    def chunk(self, delta: dict[str, Any], finish: str | None = None,
              usage: Any = None) -> bytes:
        # Every chunk needs "object": "chat.completion.chunk" or the client's
        # .stream() helper fails with a bare AssertionError.
        data: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.body.get("model", "test"),
            "choices": [] if usage is not None else [
                {"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            data["usage"] = usage
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    def content_chunks(self) -> list[bytes]:
        """The role, then the content in 16-character pieces."""
        text = self.reply.content or ""
        return [self.chunk({"role": "assistant", "content": ""})] + [
            self.chunk({"content": text[i:i + 16]}) for i in range(0, len(text), 16)]

    def chunks(self) -> list[bytes]:
        out = self.content_chunks()
        for i, call in enumerate(_tool_calls(self.reply)):
            out.append(self.chunk({"tool_calls": [{"index": i, **call}]}))
        out.append(self.chunk({}, "tool_calls" if self.reply.tool_calls else "stop"))
        if (self.body.get("stream_options") or {}).get("include_usage"):
            out.append(self.chunk({}, usage=self.usage()))
        return out


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer._HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # without it every request stalls ~40 ms

    def log_message(self, *args: Any) -> None:  # quiet: tests read what they assert
        pass

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        # One write per reply (headers + body): see disable_nagle_algorithm.
        head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n")
        self.wfile.write(head.encode() + payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/").endswith("/models"):
            body = {"object": "list", "data": [{"id": "test", "object": "model"}]}
            self._send(200, json.dumps(body).encode(), "application/json")
        else:
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, b'{"error": {"message": "not found"}}', "application/json")
            return
        owner = self.server.owner
        reply = owner.answer(body, dict(self.headers))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.close_without_answer:
            self.close_connection = True
            return
        if reply.raw_body is not None:
            self._send(200, reply.raw_body, reply.raw_content_type)
            return
        if reply.status != 200:
            err = {"error": {"message": reply.content or f"scripted error {reply.status}",
                             "type": "server_error", "code": reply.status}}
            self._send(reply.status, json.dumps(err).encode(), "application/json")
            return
        completion = _Completion(body, reply)
        if reply.trickle is not None:
            self._trickle(completion)
            return
        if not body.get("stream"):
            self._send(200, json.dumps(completion.whole()).encode(), "application/json")
            return
        self._stream(completion)

    def _trickle(self, completion: _Completion) -> None:
        """Answer for ever, a little at a time (until the client closes the connection)."""
        reply = completion.reply
        streaming = bool(completion.body.get("stream"))
        kind = "text/event-stream" if streaming else "application/json"
        self.close_connection = True
        try:
            self.wfile.write(f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n".encode())
            if streaming:
                for c in completion.content_chunks():
                    self.wfile.write(_http_chunk(c))
            more = (completion.chunk({"content": reply.trickle}) if streaming else b" ")
            owner = self.server.owner
            generation = owner.trickle_generation
            while owner.trickle_generation == generation:
                self.wfile.flush()
                time.sleep(reply.chunk_delay or 0.5)
                self.wfile.write(_http_chunk(more))
        except OSError:  # the client went away: the only way this answer ends
            return

    def _stream(self, completion: _Completion) -> None:
        chunks = completion.chunks()
        reply = completion.reply
        cut = reply.cut_after is not None
        head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        head += "Connection: close\r\n\r\n" if cut else "Transfer-Encoding: chunked\r\n\r\n"
        if cut:
            # Send a few chunks, then drop the connection mid-stream.
            self.close_connection = True
            self.wfile.write(head.encode() + b"".join(chunks[:reply.cut_after]))
            self.wfile.flush()
            return
        if not reply.chunk_delay:
            payload = b"".join(chunks) + b"data: [DONE]\n\n"
            self.wfile.write(head.encode() + _http_chunk(payload) + b"0\r\n\r\n")
            return
        self.wfile.write(head.encode())
        for c in chunks:
            self.wfile.write(_http_chunk(c))
            self.wfile.flush()
            time.sleep(reply.chunk_delay)
        self.wfile.write(_http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class ChatServer:
    """Serve ``/v1/chat/completions`` on 127.0.0.1 from a responder, in a thread."""

    class _HTTPServer(ThreadingHTTPServer):
        daemon_threads = True
        owner: ChatServer

        def server_bind(self) -> None:
            # HTTPServer's own looks the address up in DNS (socket.getfqdn) for a name
            # nobody reads here: a wait on a machine whose resolver is unreachable.
            socketserver.TCPServer.server_bind(self)
            self.server_name, self.server_port = self.server_address[:2]

    def __init__(self, responder: Responder, host: str = "127.0.0.1", port: int = 0) -> None:
        self.responder = responder
        self._httpd = self._HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None
        # Bumped by end_trickles(): an answer trickling for ever (``Reply.trickle``)
        # ends at its next piece once it changed.
        self.trickle_generation = 0

    def answer(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        return self.responder(body)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ChatServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name="agentmem-chat-server", daemon=True)
        self._thread.start()
        return self

    def end_trickles(self) -> None:
        """End every answer trickling for ever, at its next piece."""
        self.trickle_generation += 1

    def stop(self) -> None:
        self.end_trickles()
        if self._thread is not None:  # shutdown() waits for serve_forever: only if it runs
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    # --- runtime.Resource (the demo model's server is process-wide) -----------
    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        self._thread = None  # the serving thread is the parent's; never wait for it here

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
