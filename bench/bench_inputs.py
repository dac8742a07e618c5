"""What issue 15's input checks and deadlines cost (points 3, 5 and 8).

    .venv/bin/python bench/bench_inputs.py scan
    .venv/bin/python bench/bench_inputs.py deadlines
    .venv/bin/python bench/bench_inputs.py calls --base /tmp/agentmem-base [--rounds 6]

``scan``: the credential check of ``{name}`` (``notebook/credentials.py``): the walk of
the value alone (``find_credential``) and the whole ``interpolate`` of ``{v}`` (render
in a thread with a deadline, walk, scan of the rendering), median of 5 calls, for large
values and the worst shapes found.

``deadlines``: how long a stream that trickles for ever (``timeout=3``), a ``{v}``
whose repr hangs (``context_timeout`` 1 s) and a DuckDB file held by a stopped process
(``lock_timeout_s`` 5 s, another thread of the process already waiting) take to end.

``calls``: the same model calls and turns with this tree and with another checkout of
the package (``--base``, e.g. ``git archive <commit> | tar -x -C /tmp/agentmem-base``),
each in a fresh process, alternating for ``--rounds`` rounds so machine noise hits
both; medians of the rounds. Per round: 200 whole ``OpenAIChat.response`` calls (the
deadline's thread per call), one streamed reply of 0.25 MB (a queue hop per chunk),
100 ``Agent.run`` turns and 100 ``run(stream=True)`` turns on a DuckDB file (history 3).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median_ms  # noqa: E402 (bench/ is the script's folder)


def bench_scan() -> None:
    import numpy as np
    import pandas as pd

    from jupyter_agentmem.notebook.context import interpolate
    from jupyter_agentmem.notebook.credentials import (
        MAX_SCAN_CHARS,
        MAX_SCAN_LEAVES,
        find_credential,
    )

    n = 1_000_000
    values = {
        "DataFrame 1M rows, numbers only": pd.DataFrame(
            {"a": np.arange(n), "b": np.linspace(0, 1, n)}),
        "DataFrame 1M rows, 2 text columns": pd.DataFrame(
            {"a": np.arange(n), "b": ["text"] * n, "c": [f"row {i} words" for i in range(n)]}),
        "DataFrame 1M rows, 36-char ids": pd.DataFrame(
            {"id": [f"user_{i:030d}x" for i in range(n)]}),
        "list of 10M ints": list(range(10_000_000)),
        "list of 1M short strings": ["word"] * n,
        "dict of 100k str -> 50-char str": {f"k{i}": "v" * 50 for i in range(100_000)},
        "str of 3.6 MB prose": "lorem ipsum dolor " * 200_000,
        "str of 2 MB base64-like": "QUJD" * 500_000,
    }
    print(f"caps: {MAX_SCAN_CHARS:,} characters, {MAX_SCAN_LEAVES:,} text leaves per value")
    print(f"{'value':<36} {'walk ms':>9} {'{v} ms':>9}")
    for label, value in values.items():
        walk = median_ms(lambda v=value: find_credential(v), 5)
        whole = median_ms(lambda v=value: interpolate("{v}", {"v": v}, 4000), 5)
        print(f"{label:<36} {walk:>9.1f} {whole:>9.1f}", flush=True)


CHILD = r'''
import json, os, statistics, sys, tempfile, time
from jupyter_agentmem import Agent, OpenAIChat
from jupyter_agentmem.model.server import ChatServer, Reply
from jupyter_agentmem.storage import DuckDbAgentStorage

def median_ms(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)

reply = {"text": "An instant answer of a few words."}
with tempfile.TemporaryDirectory() as tmp, ChatServer(
        lambda body: Reply(content=reply["text"])) as server:
    model = OpenAIChat(id="bench", base_url=server.base_url, api_key="bench", max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]
    model.response(msgs)
    out = {"whole call ms": median_ms(lambda: model.response(msgs), 200)}
    line = "Lorem ipsum dolor sit amet, *consectetur* adipiscing elit.\n"
    reply["text"] = line * (250_000 // len(line))
    t0 = time.perf_counter()
    chunks = sum(1 for _ in model.response_stream(msgs))
    out["0.25 MB stream s"] = time.perf_counter() - t0
    reply["text"] = "An instant answer of a few words."
    agent = Agent(model=model, storage=DuckDbAgentStorage(
        db_file=os.path.join(tmp, "bench.duckdb")), add_history_to_messages=True,
        num_history_responses=3, session_id="bench")
    agent.run("warm-up")
    out["Agent.run ms"] = median_ms(lambda: agent.run("Tell me something short."), 100)
    out["run(stream=True) ms"] = median_ms(
        lambda: list(agent.run("Tell me something short.", stream=True)), 100)
print(json.dumps(out))
'''


def bench_calls(base: str, rounds: int) -> None:
    here = str(Path(__file__).resolve().parent.parent)
    trees = {"before (--base)": base, "after (this tree)": here}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for r in range(rounds):
        order = list(trees.items()) if r % 2 == 0 else list(reversed(trees.items()))
        for name, tree in order:
            env = {**os.environ, "PYTHONPATH": tree}
            out = subprocess.run([sys.executable, "-c", CHILD], env=env, check=True,
                                 capture_output=True, text=True, cwd=tempfile.gettempdir())
            results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {name}: {results[name][-1]}", flush=True)
    keys = list(results[next(iter(trees))][0])
    print(f"\nmedian of {rounds} rounds | " + " | ".join(trees) + " | ratio")
    for key in keys:
        before, after = (statistics.median(x[key] for x in results[name]) for name in trees)
        print(f"{key:<22} | {before:.3f} | {after:.3f} | {after / before:.2f}x")


def bench_deadlines() -> None:
    """How long each wait on something stuck takes now (one run each)."""
    import signal
    import threading

    from jupyter_agentmem import OpenAIChat
    from jupyter_agentmem.model.server import ChatServer, Reply
    from jupyter_agentmem.notebook.context import interpolate
    from jupyter_agentmem.store import DuckDbStore
    from jupyter_agentmem.store.duckdb import shared_duckdb

    with ChatServer(lambda body: Reply(content="Start.", trickle=" more",
                                       chunk_delay=0.5)) as server:
        model = OpenAIChat(id="m", base_url=server.base_url, api_key="k", timeout=3,
                           max_retries=0)
        model.check()  # the client built (and openai imported, ~0.4 s) before timing
        got: list[str] = []
        t0 = time.perf_counter()
        try:
            for delta in model.response_stream([{"role": "user", "content": "x"}]):
                got.append(delta)
        except Exception as exc:  # noqa: BLE001 (the deadline is what is measured)
            why = str(exc)[:60]
        print(f"stream trickling for ever, timeout=3: ended after "
              f"{time.perf_counter() - t0:.2f} s with {len(''.join(got))} characters kept "
              f"({why}...)")
        server.end_trickles()

    release = threading.Event()

    class Hangs:
        def __repr__(self) -> str:
            release.wait(60)
            return "Hangs()"

    t0 = time.perf_counter()
    try:
        interpolate("{v}", {"v": Hangs()}, 4000, timeout=1.0)
    except Exception as exc:  # noqa: BLE001
        why = str(exc)[:50]
    release.set()
    print(f"{{v}} whose repr hangs, context_timeout=1: refused after "
          f"{time.perf_counter() - t0:.2f} s ({why}...)")

    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "a.duckdb")
        DuckDbStore(db).list_sessions()
        shared_duckdb(db).close()
        holder = subprocess.Popen([sys.executable, "-c", (
            "import os, signal, sys\nfrom jupyter_agentmem.store import DuckDbStore\n"
            "s = DuckDbStore(sys.argv[1]); s.list_sessions()\n"
            "with s.engine.connection():\n    print('held', flush=True)\n"
            "    os.kill(os.getpid(), signal.SIGSTOP)\n"), db], stdout=subprocess.PIPE,
            text=True)
        holder.stdout.readline()
        time.sleep(0.5)
        engine = shared_duckdb(db)
        engine.lock_timeout_s = 5
        worker = threading.Thread(target=lambda: _ignore(DuckDbStore(db).list_sessions),
                                  daemon=True)
        worker.start()
        time.sleep(1)
        t0 = time.perf_counter()
        _ignore(DuckDbStore(db).list_sessions)
        waited = time.perf_counter() - t0
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
        worker.join(10)
        print(f"DuckDB file held by a stopped process, lock_timeout_s=5, another thread "
              f"already waiting 1 s: this call's error after {waited:.2f} s")


def _ignore(call) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 (the wait is what is measured)
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["scan", "calls", "deadlines"])
    parser.add_argument("--base", help="another checkout of the package (calls)")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.1f}")
    if args.what == "scan":
        bench_scan()
    elif args.what == "deadlines":
        bench_deadlines()
    else:
        if not args.base:
            parser.error("calls needs --base")
        bench_calls(args.base, args.rounds)
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
