"""What recall=3 adds to a turn, on stores of 10k / 100k / 1M messages.

    .venv/bin/python bench/bench_recall.py [--sizes 10000,100000] [--turns 60]

For each size, a fresh DuckDB file seeded as ``bench_search.py`` seeds it (1,000
sessions of 100 users, 12 generated words per message from a 5,000-word vocabulary),
plus an assistant reply for every run (a recalled exchange is a message and its
reply). Then ``Agent.run`` for one of those users in a new session, history=3, against
an instant local server, alternating blocks of 10 turns with ``recall=0`` and
``recall=3`` in one process (both see the same machine); each message is 12 words of the
vocabulary, so each query term has ~12 x n / 5,000 postings (the costly case for BM25).
Reported: the median turn of each mode (the first 5 turns dropped), the difference, and
the median tokens the recalled part added. Then what the ``messages_run`` index (m008)
adds to a turn: two fresh files, one with the index dropped, alternating blocks of 10
turns.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from bench_search import seed  # noqa: E402

from jupyter_agentmem import Agent, AgentMemory, OpenAIChat  # noqa: E402
from jupyter_agentmem.model.server import ChatServer, Reply  # noqa: E402
from jupyter_agentmem.storage import DuckDbAgentStorage  # noqa: E402


def add_replies(store) -> None:
    with store.engine.transaction() as con:
        con.execute("""
            INSERT INTO messages (message_id, session_id, run_id, seq, role, content,
                                  created_at)
            SELECT 'a' || substr(run_id, 2), session_id, run_id, 1, 'assistant',
                   'a reply of about a dozen words to this message, for the bench', now()
            FROM runs WHERE run_id LIKE 'r%'""")


def turns(path: str, n_turns: int) -> tuple[float, float, float]:
    server = ChatServer(lambda body: Reply(content="ok " * 20)).start()
    rng = random.Random(1)
    blocks: dict[int, list[float]] = {0: [], 3: []}
    recalled_tokens: list[int] = []
    memory = AgentMemory()
    agent = Agent(model=OpenAIChat(id="m", base_url=server.base_url, api_key="x",
                                   max_retries=0),
                  storage=DuckDbAgentStorage(db_file=path), memory=memory,
                  add_history_to_messages=True, num_history_responses=3,
                  session_id="bench-new", user_id="u7")
    for i in range(n_turns):
        memory.recall = 3 if (i // 10) % 2 else 0
        text = " ".join(f"w{rng.randrange(5000)}" for _ in range(12))
        t0 = time.perf_counter()
        response = agent.run(text)
        blocks[memory.recall].append((time.perf_counter() - t0) * 1000)
        if memory.recall:
            context = agent.store.run_context(response.run_id)
            recalled_tokens.append(len(context.recalled) and context.tokens["recalled"])
    server.stop()
    off, on = (statistics.median(blocks[k][5:]) for k in (0, 3))
    return off, on, statistics.median(recalled_tokens)


def index_cost(n_turns: int) -> tuple[float, float]:
    """Turns on two fresh files, one without the messages_run index (m008), alternating
    blocks of 10: what writing the index costs a turn."""
    server = ChatServer(lambda body: Reply(content="ok " * 20)).start()
    blocks: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as d:
        agents = {}
        for indexed in (True, False):
            storage = DuckDbAgentStorage(db_file=os.path.join(d, f"{indexed}.duckdb"))
            if not indexed:
                with storage.store.engine.transaction() as con:
                    con.execute("DROP INDEX messages_run")
            agents[indexed] = Agent(model=OpenAIChat(id="m", base_url=server.base_url,
                                                     api_key="x", max_retries=0),
                                    storage=storage, add_history_to_messages=True,
                                    num_history_responses=3)
        for i in range(n_turns):
            indexed = (i // 10) % 2 == 0
            t0 = time.perf_counter()
            agents[indexed].run(f"turn {i}: a message of about a dozen words to index here")
            blocks[indexed].append((time.perf_counter() - t0) * 1000)
    server.stop()
    return statistics.median(blocks[True][5:]), statistics.median(blocks[False][5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--index-turns", type=int, default=400)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(" messages | recall=0 ms | recall=3 ms | recall adds ms | recalled tokens")
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.duckdb")
            store = seed(path, n)
            add_replies(store)
            store.close()
            off, on, tokens = turns(path, args.turns)
            print(f"{n:>9,} | {off:11.1f} | {on:11.1f} | {on - off:14.1f} | {tokens:.0f}")
    with_index, without = index_cost(args.index_turns)
    print(f"\nper turn ({args.index_turns} turns, alternating blocks of 10): messages_run "
          f"index {with_index:.2f} ms, without {without:.2f} ms, "
          f"the index adds {with_index - without:.2f} ms")


if __name__ == "__main__":
    main()
