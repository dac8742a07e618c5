"""A fresh kernel's first ``%%agent`` cell, and ``%load_ext``, in real kernels.

    .venv/bin/python bench/bench_cold.py [--runs 10] [--gaps 0 1] [--code NAME=PATH ...]

Each run starts a fresh IPython kernel (jupyter_client, the ``python3`` kernelspec) on a
new DuckDB file, then sends, as a notebook would:

1. ``%load_ext jupyter_agentmem``: timed in the kernel (``run_line_magic``) and as
   the cell's round trip (execute request to idle);
2. after ``gap`` seconds (0: "run all"; -1: once the background imports after
   ``%load_ext`` are done, polled with silent executes: a person who reads the output
   first), the first ``%%agent`` cell, timed as its round trip: what the user waits;
3. three more ``%%agent`` cells: a later cell, for "no slower afterwards".

Also read in the kernel: its CPU time (all threads) from the end of ``%load_ext`` to
the end of the first cell (the work, whatever the machine's load), and how long the
background imports ran (``notebook/preload.py``), when there are any.

Cases: ``model=demo`` (the offline demo server, started by the first cell) and a local
OpenAI-compatible server (``model/server.py`` in this process, answering instantly;
``OPENAI_BASE_URL`` in the kernel's environment). ``--code NAME=PATH`` runs the same on
another copy of the package (e.g. ``before=/tmp/base``, from ``git archive``), its
kernels interleaved with this one's. Prints the median and the spread (min-max) of
each figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

from jupyter_agentmem.model.server import ChatServer, Reply

HERE = Path(__file__).resolve().parent.parent
LOAD_EXT = ("import time as _t\n_t0 = _t.perf_counter()\n"
            "get_ipython().run_line_magic('load_ext', 'jupyter_agentmem')\n"
            "_load_ext_ms = (_t.perf_counter() - _t0) * 1000")


CPU = "__import__('time').process_time() * 1000"  # the kernel process's, all threads
PRELOAD_DONE = ("getattr(__import__('jupyter_agentmem.runtime').runtime._shared.get("
                "('jobs', 'preload')), 'done', True)")
PRELOAD_MS = ("getattr(__import__('jupyter_agentmem.runtime').runtime._shared.get("
              "('jobs', 'preload')), 'seconds', None) and "
              "__import__('jupyter_agentmem.runtime').runtime._shared[('jobs', 'preload')]"
              ".seconds * 1000")


def run_cell(client: Any, code: str, expressions: dict[str, str] | None = None,
             timeout: float = 120, silent: bool = False) -> tuple[float, dict[str, Any]]:
    """(ms from the execute request to idle, user expressions) of one cell."""
    start = time.perf_counter()
    msg_id = client.execute(code, user_expressions=expressions or {}, silent=silent)
    while True:
        msg = client.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            ms = (time.perf_counter() - start) * 1000
            break
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    values = {k: v.get("data", {}).get("text/plain")
              for k, v in reply["content"].get("user_expressions", {}).items()}
    return ms, values


def one_kernel(code_path: str, case: str, gap: float, base_url: str) -> dict[str, float]:
    folder = tempfile.mkdtemp(prefix="bench-cold-")
    env = dict(os.environ, PYTHONPATH=code_path,
               AGENTMEM_DB=os.path.join(folder, "agentmem.duckdb"))
    env.pop("OPENAI_BASE_URL", None)
    model = "demo"
    if case == "server":
        env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="sk-bench-cold")
        model = "bench"
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(env=env, stderr=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=120)
        load_ms, values = run_cell(client, LOAD_EXT, {
            "in_kernel": "_load_ext_ms", "cpu": CPU,
            "where": "__import__('jupyter_agentmem').__file__"})
        if not values["where"].strip("'").startswith(code_path):
            raise RuntimeError(f"the kernel imported {values['where']}, not {code_path}")
        if gap >= 0:
            time.sleep(gap)
        else:  # until the background imports are done (at once when there are none)
            while run_cell(client, "", {"done": PRELOAD_DONE}, silent=True)[1]["done"] == "False":
                time.sleep(0.05)
        first_ms, after = run_cell(client, f"%%agent model={model}\nHello, a first question.",
                                   {"cpu": CPU, "preload": PRELOAD_MS})
        later = [run_cell(client, f"%%agent model={model}\nAnd question {i}?")[0]
                 for i in range(3)]
        figures = {"load_ext in kernel": float(values["in_kernel"]),
                   "load_ext cell": load_ms, "first cell": first_ms,
                   "later cell": statistics.median(later),
                   "kernel CPU": float(after["cpu"]) - float(values["cpu"])}
        if after["preload"] not in (None, "None"):
            figures["preload thread"] = float(after["preload"])
        return figures
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--gaps", type=float, nargs="+", default=[0.0, -1.0],
                        help="seconds between %%load_ext and the first cell; -1: until "
                        "the background imports are done")
    parser.add_argument("--cases", nargs="+", default=["demo", "server"])
    parser.add_argument("--code", action="append", default=[],
                        help="NAME=PATH: also run this copy of the package (interleaved)")
    args = parser.parse_args()
    codes = {"this": str(HERE)} | dict(c.split("=", 1) for c in args.code)
    server = ChatServer(lambda body: Reply(content="An instant answer.")).start()
    results: dict[tuple[str, str, float], list[dict[str, float]]] = {}
    try:
        for run in range(args.runs):
            for case, gap, name in itertools.product(args.cases, args.gaps, codes):
                figures = one_kernel(codes[name], case, gap, server.base_url)
                results.setdefault((name, case, gap), []).append(figures)
                print(json.dumps({"run": run, "code": name, "case": case, "gap": gap,
                                  **{k: round(v, 1) for k, v in figures.items()}}),
                      flush=True)
    finally:
        server.stop()
    print(f"\nmedian (min-max) ms over {args.runs} fresh kernels each")
    names = ["load_ext in kernel", "load_ext cell", "first cell", "later cell", "kernel CPU",
             "preload thread"]
    print("| code | case | gap s | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for (name, case, gap), rows in results.items():
        cells = []
        for key in names:
            values = [r[key] for r in rows if key in r]
            if not values:
                cells.append("-")
                continue
            cells.append(f"{statistics.median(values):.0f} ({min(values):.0f}-"
                         f"{max(values):.0f})")
        shown = "ready" if gap < 0 else f"{gap:g}"
        print(f"| {name} | {case} | {shown} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
