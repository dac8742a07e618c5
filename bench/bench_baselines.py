"""Per-turn time of agno 3.x and phidata 2.7 agents, measured as bench_turns.py measures ours.

How to run (agno and phidata live in their own venv, so the project's deps stay untouched;
agno 3.1.10 and phidata 2.7.10 install side by side with openai 3.57 / pydantic 2.14; agno's
SqliteDb imports sqlalchemy's asyncio module, hence ``sqlalchemy[asyncio]`` for greenlet):

    python3 -m venv bench/.venv-baselines
    bench/.venv-baselines/bin/pip install agno phidata==2.7.10 openai "sqlalchemy[asyncio]" -e .
    bench/.venv-baselines/bin/python bench/bench_baselines.py --framework agno
    bench/.venv-baselines/bin/python bench/bench_baselines.py --framework phidata
    bench/.venv-baselines/bin/python bench/bench_baselines.py --framework ours

One session of ``--turns`` turns (default 1000) against
``jupyter_agentmem.openai_server.ChatServer`` on 127.0.0.1 answering instantly with the same
short reply and the same message texts as bench_turns.py, history on with the last 3 runs:

- agno: ``Agent(model=OpenAIChat(id, base_url), db=SqliteDb(db_file=tmp),
  add_history_to_context=True, num_history_runs=3)``, other settings at agno's defaults
  (so ``cache_session=False``: the session is read back from SQLite each run).
- phidata: ``Agent(model=OpenAIChat(id, base_url), storage=SqlAgentStorage(table_name,
  db_file=tmp), add_history_to_messages=True, num_history_responses=3)``.
- ours: ``Agent(model=OpenAIChat(...), storage=DuckDbAgentStorage(db_file=tmp),
  add_history_to_messages=True, num_history_responses=3)``, as in bench_turns.py.

Telemetry of agno and phidata is switched off (``telemetry=False`` and the AGNO_TELEMETRY /
PHI_TELEMETRY environment variables): it would post to their servers each run. For each
window of turns (1-10, 91-100, 991-1000) it prints the median ms of ``agent.run`` and of a
raw ``openai`` client call with the messages the agent just sent to the same server.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

from jupyter_agentmem.model.server import ChatServer, Reply

WINDOWS = [(1, 10), (91, 100), (991, 1000)]
SESSION = "bench"
DESCRIPTION = "You are a benchmark."


class Subject:
    """One framework's agent: ``run(message)`` and ``count()`` of the runs it stored."""

    def __init__(self, run: Callable[[str], Any], count: Callable[[], int]) -> None:
        self.run = run
        self.count = count


def make_agno(base_url: str, tmp: str) -> Subject:
    from agno.agent import Agent
    from agno.db.sqlite import SqliteDb
    from agno.models.openai import OpenAIChat

    agent = Agent(model=OpenAIChat(id="bench", base_url=base_url, api_key="bench",
                                   max_retries=0),
                  db=SqliteDb(db_file=os.path.join(tmp, "agno.db")),
                  add_history_to_context=True, num_history_runs=3,
                  description=DESCRIPTION, session_id=SESSION, telemetry=False)

    def count() -> int:
        session = agent.get_session(session_id=SESSION)
        return len(session.runs or []) if session else 0

    return Subject(agent.run, count)


def make_phidata(base_url: str, tmp: str) -> Subject:
    from phi.agent import Agent
    from phi.model.openai import OpenAIChat
    from phi.storage.agent.sqlite import SqlAgentStorage

    storage = SqlAgentStorage(table_name="agent_sessions",
                              db_file=os.path.join(tmp, "phidata.db"))
    agent = Agent(model=OpenAIChat(id="bench", base_url=base_url, api_key="bench",
                                   max_retries=0),
                  storage=storage, add_history_to_messages=True, num_history_responses=3,
                  description=DESCRIPTION, session_id=SESSION, telemetry=False)

    def count() -> int:
        session = storage.read(SESSION)
        return len((session.memory or {}).get("runs", [])) if session else 0

    return Subject(agent.run, count)


def make_ours(base_url: str, tmp: str) -> Subject:
    from jupyter_agentmem import Agent, OpenAIChat
    from jupyter_agentmem.storage import DuckDbAgentStorage

    agent = Agent(model=OpenAIChat(id="bench", base_url=base_url, api_key="bench",
                                   max_retries=0),
                  storage=DuckDbAgentStorage(db_file=os.path.join(tmp, "ours.duckdb")),
                  add_history_to_messages=True, num_history_responses=3,
                  description=DESCRIPTION, session_id=SESSION)
    return Subject(agent.run, lambda: agent.store.count_runs(SESSION))


FRAMEWORKS = {"agno": (make_agno, "agno"), "phidata": (make_phidata, "phidata"),
              "ours": (make_ours, "jupyter_agentmem")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--framework", choices=sorted(FRAMEWORKS), required=True)
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--progress", type=int, default=0,
                        help="print elapsed time every N turns (to stderr)")
    args = parser.parse_args()
    os.environ["AGNO_TELEMETRY"] = "false"
    os.environ["PHI_TELEMETRY"] = "false"
    os.environ["PHI_MONITORING"] = "false"

    import openai

    last_body: dict[str, Any] = {}

    def responder(body: dict[str, Any]) -> Reply:
        last_body.clear()
        last_body.update(body)
        return Reply(content="An instant answer of a few words.")

    windows = [(a, b) for a, b in WINDOWS if b <= args.turns]
    agent_ms: dict[tuple[int, int], list[float]] = {w: [] for w in windows}
    raw_ms: dict[tuple[int, int], list[float]] = {w: [] for w in windows}
    make, dist = FRAMEWORKS[args.framework]
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp, ChatServer(responder) as server:
        subject = make(server.base_url, tmp)
        client = openai.OpenAI(base_url=server.base_url, api_key="bench", max_retries=0)
        subject.run("warm-up")  # imports, the HTTP connection, the file and its schema
        for turn in range(1, args.turns + 1):
            window = next((w for w in windows if w[0] <= turn <= w[1]), None)
            message = f"Turn {turn}: tell me something short."
            t0 = time.perf_counter()
            subject.run(message)
            elapsed = (time.perf_counter() - t0) * 1000
            if window:
                agent_ms[window].append(elapsed)
                # The raw client: same server, the messages the agent just sent.
                t0 = time.perf_counter()
                client.chat.completions.create(model="bench", messages=last_body["messages"])
                raw_ms[window].append((time.perf_counter() - t0) * 1000)
            if args.progress and turn % args.progress == 0:
                print(f"turn {turn}: {time.perf_counter() - started:.0f} s, last {elapsed:.1f} ms",
                      file=sys.stderr, flush=True)
        sent = [m.get("role") for m in last_body["messages"]]
        stored = subject.count()

    print(f"{args.framework} {metadata.version(dist)}, openai {metadata.version('openai')}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {stored} runs stored, "
          f"{time.perf_counter() - started:.0f} s in all")
    print(f"last request: {len(sent)} messages ({', '.join(sent)})")
    print(f"{'turns':>10} {'agent.run ms':>13} {'raw client ms':>14} {'overhead ms':>12}")
    for w in windows:
        a, r = statistics.median(agent_ms[w]), statistics.median(raw_ms[w])
        print(f"{w[0]:>4}-{w[1]:<5} {a:>13.2f} {r:>14.2f} {a - r:>12.2f}")
    first, last = windows[0], windows[-1]
    ratio = statistics.median(agent_ms[last]) / statistics.median(agent_ms[first])
    print(f"turn {last[1]} / turn {first[1]}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
