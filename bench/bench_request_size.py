"""What a long history adds to one model call, next to what its bytes cost.

    .venv/bin/python bench/bench_request_size.py [--reps 30]

For 1, 8, 50 and 200 history messages (a system message, the history, the new
message; ~300 characters each), against ``model/server.py``'s server on 127.0.0.1
(in a process of its own) answering instantly, interleaved, it times:

- bytes: the same JSON body posted with the SDK's own HTTP client
  (``openai.DefaultHttpxClient``, one kept connection) and the stream read to its end:
  what the bytes cost (serialising, sending, the server parsing them and answering);
- before: ``OpenAIChat.response_stream`` with the messages passed as ``create()``'s
  typed ``messages`` argument (the SDK walks them: ``maybe_transform``);
- after: ``OpenAIChat.response_stream`` as it is (messages as ``extra_body``).

"added" = the call minus "bytes" for the same messages: the client's own cost. The
issue's bar: added at 200 messages <= 2x added at 1. Wall time (what a user waits), and
the calling thread's CPU time (``time.thread_time``: the client's work without the
server thread's, and much less disturbed by other processes on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import openai

from jupyter_agentmem.model.openai_chat import OpenAIChat

SERVER = """
import time
from jupyter_agentmem.model.server import ChatServer, Reply
server = ChatServer(lambda body: Reply(content="An instant answer of a few words.")).start()
print(server.base_url, flush=True)
time.sleep(3600)
"""

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
    """Post the body ``OpenAIChat`` sends with the SDK's own HTTP client (its library,
    its defaults: ``openai.DefaultHttpxClient``), read the stream line by line."""
    http = openai.DefaultHttpxClient()
    url = base_url.rstrip("/") + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-key"}

    def call(msgs: list[dict[str, Any]]) -> None:
        body = json.dumps({"model": "bench", "messages": msgs, "stream": True,
                           "stream_options": {"include_usage": True}},
                          ensure_ascii=False, separators=(",", ":")).encode()
        with http.stream("POST", url, content=body, headers=headers) as response:
            for _ in response.iter_lines():
                pass
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
    # The server in its own process, as a model server is: its work (parsing 68 KB,
    # answering) does not share this process's GIL with the client being measured.
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                              text=True)
    base_url = server.stdout.readline().strip()
    calls = {
        "bytes": bytes_call(base_url),
        "before": stream_call(TypedOpenAIChat(id="bench", base_url=base_url,
                                              api_key="sk-bench-key", max_retries=0)),
        "after": stream_call(OpenAIChat(id="bench", base_url=base_url,
                                        api_key="sk-bench-key", max_retries=0)),
    }
    bodies = {n: messages(n) for n in SIZES}
    times: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    try:
        for call in calls.values():  # warm: connections, the SDK's caches
            for n in SIZES:
                call(bodies[n])
        for _ in range(args.reps):
            for n in SIZES:
                for name, call in calls.items():
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    call(bodies[n])
                    times.setdefault((name, n), []).append((time.perf_counter() - start) * 1e3)
                    cpu.setdefault((name, n), []).append((time.thread_time() - start_cpu) * 1e3)
    finally:
        server.kill()
        server.wait()
    for what, samples in (("wall", times), ("caller's CPU", cpu)):
        med = {key: statistics.median(v) for key, v in samples.items()}
        print(f"\n{what}: median ms of {args.reps} interleaved calls; added = call - bytes")
        print("| history messages | body KB | bytes ms | before ms | before added | "
              "after ms | after added |")
        print("|---|---|---|---|---|---|---|")
        for n in SIZES:
            kb = len(json.dumps(bodies[n])) / 1024
            row = [med[("bytes", n)], med[("before", n)],
                   med[("before", n)] - med[("bytes", n)],
                   med[("after", n)], med[("after", n)] - med[("bytes", n)]]
            print(f"| {n} | {kb:.1f} | " + " | ".join(f"{x:.2f}" for x in row) + " |")
        for name in ("before", "after"):
            added = {n: med[(name, n)] - med[("bytes", n)] for n in SIZES}
            print(f"{what}, {name}: added at 200 / added at 1 = {added[200] / added[1]:.2f}x")


if __name__ == "__main__":
    main()
