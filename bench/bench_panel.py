"""Time to build the panel for sessions of 100, 10,000 and 100,000 messages.

    .venv/bin/python bench/bench_panel.py [--runs 5] [--sizes 100,10000,100000]

One temporary DuckDB file holds all the sessions (bulk SQL inserts: runs of a user
and an assistant message, ~200 characters each) plus 50 memories and 3 summary
versions per session. For each session it times, in this process (imports warm):

- build: ``panel(session_id=..., user_id=..., store=store)``, i.e. every tab's query
  and DataFrame, the grids' serialised state (ipywidgets serialises it when the widget
  opens), the newest page of History (200 rows);
- page: one History page move (first page, then back to the newest: the mean);
- filter: setting a History filter, which reads and searches the whole session.

and, in a fresh process, the first build including the imports of ipywidgets,
ipydatagrid and pandas (``cold``). The browser's rendering is not included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

COLD = """
import json, sys, time
t0 = time.perf_counter()
from jupyter_agentmem.notebook.panel import panel
from jupyter_agentmem.store import DuckDbStore
store = DuckDbStore(sys.argv[1])
p = panel(session_id=sys.argv[2], user_id="bench", store=store)
ms = (time.perf_counter() - t0) * 1000
p.close(); store.close()
print(json.dumps({"ms": ms}))
"""


def fill(store, session_id: str, n_messages: int) -> None:
    """Insert a session of ``n_messages`` messages in three bulk statements."""
    runs = n_messages // 2
    with store.engine.transaction() as con:
        con.execute("INSERT INTO sessions (session_id, user_id, agent_name, model, created_at, "
                    "updated_at) VALUES (?, 'bench', NULL, 'bench', now(), now())",
                    [session_id])
        con.execute(
            "INSERT INTO runs (run_id, session_id, seq, status, model, input_tokens, "
            "output_tokens, latency_ms, error, user_id, created_at) "
            "SELECT ? || '-r' || i, ?, i, 'ok', 'bench', 100, 50, 5.0, NULL, 'bench', "
            "TIMESTAMP '2026-01-01' + to_seconds(i) FROM range(?) t(i)",
            [session_id, session_id, runs])
        con.execute(
            "INSERT INTO messages (message_id, session_id, run_id, seq, role, content, name, "
            "tool_calls, tool_call_id, created_at, edited_at) "
            "SELECT ? || '-m' || i || '-' || j, ?, ? || '-r' || i, j, "
            "CASE j WHEN 0 THEN 'user' ELSE 'assistant' END, "
            "'message ' || i || ' ' || repeat('lorem ipsum ', 16), NULL, NULL, NULL, "
            "TIMESTAMP '2026-01-01' + to_seconds(i), NULL FROM range(?) t(i), range(2) u(j)",
            [session_id, session_id, session_id, runs])


def seed_memories(store) -> None:
    from jupyter_agentmem.types import Memory

    for i in range(50):
        store.as_user("bench").add_memory(Memory(user_id="bench", memory=f"fact {i} about the user",
                                topics=["bench"]), actor="model")


def seed_summaries(store, session_id: str) -> None:
    from jupyter_agentmem.types import SessionSummary

    for v in range(3):
        store.add_summary(SessionSummary(session_id=session_id, summary=f"summary {v}",
                                         topics=["bench"], through_run_seq=v), actor="model")


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100,10000,100000")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from jupyter_agentmem.notebook.panel import panel
    from jupyter_agentmem.store import DuckDbStore

    folder = tempfile.mkdtemp(prefix="bench_panel_")
    path = os.path.join(folder, "bench.duckdb")
    store = DuckDbStore(path)
    t0 = time.perf_counter()
    for n in sizes:
        fill(store, f"s{n}", n)
        seed_summaries(store, f"s{n}")
    seed_memories(store)
    total = sum(r["messages"] for r in store.list_sessions())
    print(f"seeded {total} messages in {len(sizes)} sessions in "
          f"{time.perf_counter() - t0:.1f} s ({path})")

    rows = []
    for n in sizes:
        sid = f"s{n}"
        panels = []
        build = timed(lambda sid=sid, panels=panels: panels.append(
            panel(session_id=sid, user_id="bench", store=store)), args.runs)
        p = panels[-1]
        assert p.history_tab.total == n and len(p.history_tab.frame) == min(n, 200)
        page = timed(lambda p=p: (p.history_tab.page("first"), p.history_tab.page("last")),
                     args.runs)

        search_ms = []
        for _ in range(args.runs):  # time setting the filter only, not clearing it
            search_ms += timed(lambda p=p: setattr(p.history_tab.filter_box, "value",
                                                   "message 7 "), 1)
            p.history_tab.filter_box.value = ""
        for q in panels:
            q.close()
        store.close()  # the cold process needs the file
        cold = [json.loads(subprocess.run(
            [sys.executable, "-c", COLD, path, sid], capture_output=True, text=True,
            check=True).stdout.splitlines()[-1])["ms"] for _ in range(3)]
        rows.append((n, statistics.median(build), max(build), statistics.median(page) / 2,
                     statistics.median(search_ms), statistics.median(cold)))

    print(f"\n{'messages':>9} | {'build ms (median)':>17} | {'build ms (max)':>14} | "
          f"{'page ms':>7} | {'filter ms':>9} | {'cold build ms':>13}")
    print("-" * 86)
    for n, med, mx, pg, flt, cold in rows:
        print(f"{n:>9,} | {med:>17.1f} | {mx:>14.1f} | {pg:>7.1f} | {flt:>9.1f} | {cold:>13.1f}")
    store.close()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
