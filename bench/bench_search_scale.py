"""Search and recall at 100k / 1M messages: time before the request, search, upkeep, restart.

    .venv/bin/python bench/bench_search_scale.py /tmp/i16-scale-1m.duckdb [--turns 20]

STORE is made by ``bench/scale_store.py`` (one user, ``ana``, N messages, 5,000
memories, English-like text); it is copied first, so it can be reused. Then:

- restart: a fresh process opens the copy and runs what a turn needs first (its
  exchanges and memories ranked once), then one ``search()`` of all three kinds;
- turns: ``Agent.run`` with everything on (memories, summaries, ``recall=3``,
  ``history=8k``) in a new session of ``ana``, against an instant local server; timed
  from the call to the chat request reaching the server, split into the wait for the
  last turn's memory job, memory selection, recall, and the rest (history, summary,
  the request's HTTP); the first turn (it loads the index) is shown apart;
- upkeep: per turn, what the index adds: its rows written with the run
  (``term_index.index_docs``: none where runs are numbered, DuckDB), what the index in
  memory learns of each commit, and what it reads back to catch up at a search;
- search: ``store.search`` of English-like queries (a fifth of them quoted phrases),
  p50 / p95.

As a script it measures this checkout's code (its folder first on the path): run it
from a copy of main, with a store built by that copy, for the row of main. Imported
(``measure()``), it measures the code its importer put first: ``bench/bench_scale.py``
does, in a process per code, for this code and a copy of main in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # scale_store
if __name__ == "__main__":  # as a script: this checkout's code; imported (bench_scale.py's
    sys.path.insert(0, os.path.dirname(HERE))  # worker): the code its caller put first

from scale_store import CONTENT_WORDS, FUNCTION_WORDS, USER, rare_words  # noqa: E402

import jupyter_agentmem  # noqa: E402
from jupyter_agentmem import Agent, AgentMemory, OpenAIChat  # noqa: E402
from jupyter_agentmem.model.server import ChatServer, Reply  # noqa: E402
from jupyter_agentmem.storage import AgentStorage  # noqa: E402
from jupyter_agentmem.store import open_store  # noqa: E402
from jupyter_agentmem.store.sql import store as sql_store  # noqa: E402

try:
    from jupyter_agentmem.store.sql import run_rows  # noqa: E402
except ImportError:  # main before issue 17
    run_rows = sql_store

RESTART = """
import sys, time, json
from jupyter_agentmem.store import open_store
t0 = time.perf_counter()
store = open_store(sys.argv[1])
store.get_session("x")
t1 = time.perf_counter()
acting = store.as_user("ana") if hasattr(store, "as_user") else None  # (main before: none)
if hasattr(store, "search_ids"):
    acting.search_ids("what about the garden", "exchanges", 20)
    acting.search_ids("what about the garden", "memories", 30)
t2 = time.perf_counter()
if acting is not None:
    acting.search("coffee with my sister")
else:
    store.search("coffee with my sister", user_id="ana")
t3 = time.perf_counter()
import jupyter_agentmem
print(json.dumps({"open": t1 - t0, "turn_index": t2 - t1, "search_index": t3 - t2,
                  "code": jupyter_agentmem.__file__}))
"""


def phrase(rng: random.Random, words: list[str], n: int) -> str:
    f, c = len(FUNCTION_WORDS), len(CONTENT_WORDS)
    out = []
    for _ in range(n):
        band = rng.random()
        if band < 0.5:
            out.append(FUNCTION_WORDS[int(f ** rng.random()) - 1])
        elif band < 0.83:
            out.append(CONTENT_WORDS[int(c ** rng.random()) - 1])
        else:
            out.append(words[int(30000 ** rng.random()) - 1])
    return " ".join(out)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def code_root() -> str:
    """The folder of the ``jupyter_agentmem`` this process measures."""
    return os.path.dirname(os.path.dirname(os.path.abspath(jupyter_agentmem.__file__)))


def restart(path: str) -> dict[str, float]:
    """A fresh process of the same code: open the store, rank once, search once (s)."""
    # Run in the code's folder: ``python -c`` puts the working folder first on its path.
    root = code_root()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", RESTART, path], capture_output=True, text=True,
                         cwd=root, env=env, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    if not found["code"].startswith(root + os.sep):
        raise RuntimeError(f"the restart ran {found['code']}, not the code of {root}")
    return found


class Timed:
    """Wraps a function, adding each call's time to a list (ms)."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name = owner, name
        self.real = getattr(owner, name)
        self.calls: list[float] = []
        setattr(owner, name, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self.real(*args, **kwargs)
        finally:
            self.calls.append((time.perf_counter() - t0) * 1000)

    def take(self) -> float:
        calls, self.calls = self.calls, []  # (another thread may add one meanwhile)
        return sum(calls)

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else (lambda *a, **k: self(obj, *a, **k))


def measure(store_path: str, turns: int = 20, searches: int = 100) -> dict[str, Any]:
    """Every figure of the docstring for the store at ``store_path`` (a copy is used):
    times in ms (restart in s), with the store's message count, the code measured and
    the load average (1 min) before and after."""
    rng = random.Random(16)
    words = rare_words(30000)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        path = os.path.join(tmp, "copy.duckdb")
        shutil.copy(store_path, path)
        if os.path.exists(store_path + ".wal"):
            shutil.copy(store_path + ".wal", path + ".wal")
        if os.path.isdir(store_path + ".search"):  # the search index's snapshots
            shutil.copytree(store_path + ".search", path + ".search")
        restarted = restart(path)
        arrived: list[float] = []

        def responder(body: dict[str, Any]) -> Reply:
            if body.get("tools"):
                return Reply(content="Nothing new to keep.")  # the memory manager
            if body.get("response_format"):
                return Reply(content=json.dumps({"summary": "A bench summary.",
                                                 "topics": ["bench"]}))
            arrived.append(time.perf_counter())
            return Reply(content="An instant answer: " + phrase(rng, words, 30))

        server = ChatServer(responder).start()
        store = open_store(path)
        with store.engine.connection() as con:
            (messages,) = con.execute("SELECT count(*) FROM messages").fetchone()
        memory = AgentMemory(create_user_memories=True, create_session_summary=True,
                             recall=3)
        agent = Agent(model=OpenAIChat(id="bench", base_url=server.base_url, api_key="x",
                                       max_retries=0),
                      storage=AgentStorage(store), memory=memory, user_id=USER,
                      session_id="bench-live", add_history_to_messages=True)
        agent.history_tokens = 8000
        wait = Timed(memory, "before_run")
        select = Timed(memory, "prompt_memories")
        recall = Timed(memory, "recalled_exchanges")
        # The run's index rows are written where the run's rows are (run_rows.py since
        # issue 17; sql/store.py before).
        write = Timed(run_rows if hasattr(run_rows, "index_docs") else sql_store,
                      "index_docs")
        # Then the index in memory: what it learns of each commit (``_learn``, in the
        # thread that commits), and what it reads back at a search (``_catch_up``: rows
        # past its revision; ``_catch_up_appends``: runs past its number).
        in_memory: list[Timed] = []
        try:
            from jupyter_agentmem.store.sql.search_index import SearchIndexes

            in_memory = [Timed(SearchIndexes, name) for name in
                         ("_catch_up", "_learn", "_catch_up_appends")
                         if hasattr(SearchIndexes, name)]
        except ImportError:  # main before issue 16: no in-memory index
            pass
        rows: list[dict[str, float]] = []
        for i in range(turns + 1):
            message = "I was thinking about " + phrase(rng, words, rng.randint(6, 24)) + "?"
            start = time.perf_counter()
            agent.run(message)
            total = (arrived[-1] - start) * 1000
            parts = {"wait": wait.take(), "memories": select.take(), "recall": recall.take()}
            parts["other"] = total - sum(parts.values())
            parts["total"] = total
            parts["upkeep"] = write.take() + sum(t.take() for t in in_memory)
            rows.append(parts)
            if i == 0:
                print(f"first turn: {total:.0f} ms (wait {parts['wait']:.0f}, memories "
                      f"{parts['memories']:.0f}, recall {parts['recall']:.0f})", flush=True)
        memory.wait(60)
        steady = rows[1:]
        queries = [phrase(rng, words, rng.randint(2, 8)) for _ in range(searches)]
        queries = [f'"{q}"' if n % 5 == 0 else q for n, q in enumerate(queries)]
        store.as_user(USER).search("warm up")
        search_ms = []
        for q in queries:
            t0 = time.perf_counter()
            store.as_user(USER).search(q)
            search_ms.append((time.perf_counter() - t0) * 1000)
        store.close()
        server.stop()

    med = {k: statistics.median(r[k] for r in steady) for k in steady[0]}
    return {"messages": messages, "code": code_root(), "first_turn": rows[0]["total"],
            "total": med["total"], "wait": med["wait"], "memories": med["memories"],
            "recall": med["recall"], "other": med["other"],
            "total_p95": pct([r["total"] for r in steady], 0.95),
            "search_p50": statistics.median(search_ms), "search_p95": pct(search_ms, 0.95),
            "upkeep_p50": med["upkeep"], "upkeep_max": max(r["upkeep"] for r in steady),
            "restart_turn": restarted["turn_index"], "restart_search": restarted["search_index"],
            "load_before": load_before, "load_after": os.getloadavg()[0]}


HEADER = ("| before the request p50 (wait / memories / recall / other) | p95 | "
          "search p50 / p95 | upkeep p50 / max | restart: turn's index / search's |")


def cells(m: dict[str, Any]) -> str:
    """``measure``'s figures as the cells of ``HEADER``."""
    return (f"| {m['total']:.1f} ms ({m['wait']:.1f} / {m['memories']:.1f} / "
            f"{m['recall']:.1f} / {m['other']:.1f}) | {m['total_p95']:.1f} ms | "
            f"{m['search_p50']:.1f} / {m['search_p95']:.1f} ms | "
            f"{m['upkeep_p50']:.2f} / {m['upkeep_max']:.2f} ms | "
            f"{m['restart_turn']:.2f} s / {m['restart_search']:.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--label", default="this branch")
    args = parser.parse_args()
    m = measure(args.store, args.turns, args.searches)
    print(f"\n{args.label}: {m['messages']:,} messages; load {m['load_after']:.1f}")
    print("| " + HEADER)
    print(f"| {args.label} " + cells(m))


if __name__ == "__main__":
    main()
