"""A long streamed reply in a real kernel: bytes sent to the frontend and wall time.

    .venv/bin/python bench/bench_stream.py [SIZE_MB ...]     (default: 1 2)

Starts a real IPython kernel (jupyter_client) and a local OpenAI-compatible server
(``model/server.py``: 16-character chunks, as fast as it can send them) that answers
with a reply of SIZE_MB megabytes; runs ``%%agent stream=on`` and ``stream=off`` cells
and counts every display message's content the kernel sends on iopub (what a
frontend receives), and the cell's wall time (execute request to idle).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.manager import start_new_kernel

from jupyter_agentmem.model.server import ChatServer, Reply

DISPLAY = {"display_data", "update_display_data", "execute_result", "stream"}


def run_cell(client, code: str, timeout: float = 900) -> tuple[float, int, int]:
    """(seconds, bytes of display content, display messages) for one cell."""
    start = time.perf_counter()
    msg_id = client.execute(code)
    sent = count = 0
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind = msg["msg_type"]
        if kind in DISPLAY:
            sent += len(json.dumps(msg["content"]))
            count += 1
        elif kind == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        elif kind == "status" and msg["content"]["execution_state"] == "idle":
            return time.perf_counter() - start, sent, count


def main() -> None:
    sizes = [float(a) for a in sys.argv[1:]] or [1.0, 2.0]
    reply = {"text": ""}
    server = ChatServer(lambda body: Reply(content=reply["text"])).start()
    folder = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        run_cell(client, "%load_ext jupyter_agentmem\n"
                 f"%config AgentMagics.base_url = {server.base_url!r}\n"
                 f"%config AgentMagics.db = {str(folder / 'bench.duckdb')!r}\n"
                 "import os; os.environ['OPENAI_API_KEY'] = 'sk-bench'")
        print("| reply | stream | wall s | display messages | bytes to the frontend |")
        print("|---|---|---|---|---|")
        for size in sizes:
            line = "Lorem ipsum dolor sit amet, *consectetur* adipiscing elit.\n"
            reply["text"] = line * int(size * 1_000_000 / len(line))
            for stream in ("on", "off"):
                seconds, sent, count = run_cell(
                    client, f"%%agent session=s{size}{stream} stream={stream} history=0\nGo")
                print(f"| {size:g} MB | {stream} | {seconds:.2f} | {count} | {sent:,} |",
                      flush=True)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        server.stop()


if __name__ == "__main__":
    main()
