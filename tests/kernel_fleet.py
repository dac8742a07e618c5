"""Real Jupyter kernels sharing one DuckDB file: %%agent writers and a panel editor.

Used by tests/test_kernels.py (a small count, in CI) and bench/bench_kernels.py (the full
count). Each writer kernel runs ``%%agent session=shared-(k % 2) user=ana memories=on``
cells (sessions shared between kernels); the editor kernel opens the panel on ana's
memories and edits topics in a loop. Every kernel records how long each acquisition of
the file's handover lock waited (a wrapper installed in that kernel only, for measuring).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

from jupyter_client.manager import start_new_kernel

SETUP = """
import json, os, time
os.environ["OPENAI_API_KEY"] = "sk-fleet"
from jupyter_agentmem.store.duckdb import file_lock
_acquire = file_lock.HandoverLock.acquire
LOCK_WAITS = []
def _timed(self, timeout):
    start = time.perf_counter()
    _acquire(self, timeout)
    LOCK_WAITS.append(time.perf_counter() - start)
file_lock.HandoverLock.acquire = _timed
%load_ext jupyter_agentmem
%config AgentMagics.db = {db!r}
%config AgentMagics.base_url = {url!r}
%config AgentMagics.model = "fleet"
%config AgentMagics.max_retries = 0
"""

EDITOR = """
from jupyter_agentmem import panel
p = panel(session_id="shared-0", user_id="ana", store={db!r})
EDITS = []  # (memory_id, topics) saved
REFUSED = []
for j in range({edits}):
    p.memories_tab.reload()
    for _ in range(300):  # until the first memories are stored (at most 60 s)
        if len(p.memories_tab.frame):
            break
        p.store.close()
        time.sleep(0.2)
        p.memories_tab.reload()
    if len(p.memories_tab.frame):
        row = j % len(p.memories_tab.frame)
        memory_id = p.memories_tab.frame.at[row, "memory_id"]
        if p.memories.set_cell_value("topics", row, f"edited, e{{j}}"):
            EDITS.append((memory_id, ["edited", f"e{{j}}"]))
        else:
            REFUSED.append(p.status)
    p.store.close()  # hand the file over between edits, as an idle kernel does
    time.sleep(0.2)
"""

FINISH = """
from jupyter_agentmem import runtime
runtime.idle(120)
print(json.dumps({"waits": LOCK_WAITS,
                  "edits": globals().get("EDITS", []), "refused": globals().get("REFUSED", [])}))
"""


def execute(client: Any, code: str, timeout: float = 600) -> str:
    """Run ``code``; return its stdout; raise with the traceback on an error."""
    msg_id = client.execute(code)
    out: list[str] = []
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(out)


def run_fleet(db: str, base_url: str, writers: int = 4, cells: int = 50,
              edits: int = 50) -> dict[str, Any]:
    """Start ``writers`` + 1 kernels, run everything at once; what each kernel recorded."""
    kernels = [start_new_kernel(kernel_name="python3") for _ in range(writers + 1)]
    results: queue.Queue[tuple[int, Any]] = queue.Queue()
    try:
        for _, client in kernels:
            execute(client, SETUP.format(db=db, url=base_url))

        def writer(k: int, client: Any) -> None:
            try:
                for i in range(cells):
                    execute(client, f"%%agent session=shared-{k % 2} user=ana memories=on\n"
                                    f"I live in town {k}x{i}.")
                results.put((k, json.loads(execute(client, FINISH).splitlines()[-1])))
            except BaseException as exc:  # noqa: BLE001 (reported by the caller)
                results.put((k, exc))

        def editor(client: Any) -> None:
            try:
                time.sleep(1.0)  # let the first memories arrive
                execute(client, EDITOR.format(edits=edits, db=db))
                results.put((writers, json.loads(execute(client, FINISH).splitlines()[-1])))
            except BaseException as exc:  # noqa: BLE001
                results.put((writers, exc))

        threads = [threading.Thread(target=writer, args=(k, kernels[k][1]))
                   for k in range(writers)]
        threads.append(threading.Thread(target=editor, args=(kernels[writers][1],)))
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - start
        found = dict(results.get() for _ in threads)
        for k, value in found.items():
            if isinstance(value, BaseException):
                raise RuntimeError(f"kernel {k} failed") from value
        return {"kernels": found, "seconds": elapsed}
    finally:
        for manager, client in kernels:
            client.stop_channels()
            manager.shutdown_kernel(now=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
