"""What a long history adds to one model call, next to what its bytes cost.

    .venv/bin/python bench/bench_request_size.py [--reps 30]

For 1, 8, 50 and 200 history messages (a system message, the history, the new
message; ~300 characters each), against ``model/server.py``'s server on 127.0.0.1
answering instantly, interleaved, it times:

- bytes: the same JSON body posted with ``http.client`` (one kept connection) and the
  stream read to its end: what the bytes cost (serialising, sending, the server
  parsing them and answering);
- before: ``OpenAIChat.response_stream`` with the messages passed as ``create()``'s
  typed ``messages`` argument (the SDK walks them: ``maybe_transform``);
- after: ``OpenAIChat.response_stream`` as it is (messages as ``extra_body``).

"added" = the call minus "bytes" for the same messages: the client's own cost. The
issue's bar: added at 200 messages <= 2x added at 1.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jupyter_agentmem.model.openai_chat import OpenAIChat
from jupyter_agentmem.model.server import ChatServer, Reply

SIZES = [1, 8, 50, 200]


def messages(n: int) -> list[dict[str, Any]]:
    out = [{"role": "system", "content": "You are a benchmark. " * 10}]
    for i in range(n):
        out.append({"role": "user" if i % 2 == 0 else "assistant",
                    "content": f"message {i}: " + "lorem ipsum dolor sit amet " * 11})
    out.append({"role": "user", "content": "the new message"})
    return out


class TypedOpenAIChat(OpenAIChat):
    """The client as it was: messages and tools through ``create()``'s typed arguments."""

    def _params(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                **extra: Any) -> dict[str, Any]:
        params = super()._params(messages, tools=tools, **extra)
        params.update(params.pop("extra_body"))
        return params


def bytes_call(base_url: str) -> Callable[[list[dict[str, Any]]], None]:
    """Post the body ``OpenAIChat`` sends with ``http.client``; read the stream whole."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    path = parts.path.rstrip("/") + "/chat/completions"

    def call(msgs: list[dict[str, Any]]) -> None:
        body = json.dumps({"model": "bench", "messages": msgs, "stream": True,
                           "stream_options": {"include_usage": True}},
                          ensure_ascii=False, separators=(",", ":")).encode()
        conn.request("POST", path, body, {"Content-Type": "application/json",
                                          "Authorization": "Bearer sk-bench-key"})
        response = conn.getresponse()
        response.read()
    return call


def stream_call(model: OpenAIChat) -> Callable[[list[dict[str, Any]]], None]:
    def call(msgs: list[dict[str, Any]]) -> None:
        for _ in model.response_stream(msgs):
            pass
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    server = ChatServer(lambda body: Reply(content="An instant answer of a few words.")).start()
    calls = {
        "bytes": bytes_call(server.base_url),
        "before": stream_call(TypedOpenAIChat(id="bench", base_url=server.base_url,
                                              api_key="sk-bench-key", max_retries=0)),
        "after": stream_call(OpenAIChat(id="bench", base_url=server.base_url,
                                        api_key="sk-bench-key", max_retries=0)),
    }
    bodies = {n: messages(n) for n in SIZES}
    times: dict[tuple[str, int], list[float]] = {}
    try:
        for call in calls.values():  # warm: connections, the SDK's caches
            for n in SIZES:
                call(bodies[n])
        for _ in range(args.reps):
            for n in SIZES:
                for name, call in calls.items():
                    start = time.perf_counter()
                    call(bodies[n])
                    times.setdefault((name, n), []).append((time.perf_counter() - start) * 1e3)
    finally:
        server.stop()
    med = {key: statistics.median(v) for key, v in times.items()}
    print(f"median ms of {args.reps} interleaved calls; added = call - bytes")
    print("| history messages | body KB | bytes ms | before ms | before added | "
          "after ms | after added |")
    print("|---|---|---|---|---|---|---|")
    for n in SIZES:
        kb = len(json.dumps(bodies[n])) / 1024
        row = [med[("bytes", n)], med[("before", n)], med[("before", n)] - med[("bytes", n)],
               med[("after", n)], med[("after", n)] - med[("bytes", n)]]
        print(f"| {n} | {kb:.1f} | " + " | ".join(f"{x:.2f}" for x in row) + " |")
    for name in ("before", "after"):
        added = {n: med[(name, n)] - med[("bytes", n)] for n in SIZES}
        print(f"{name}: added at 200 / added at 1 = {added[200] / added[1]:.2f}x")


if __name__ == "__main__":
    main()
