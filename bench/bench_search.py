"""Search time at 10k / 100k / 1M messages, and what the term index adds to a turn.

    .venv/bin/python bench/bench_search.py [--sizes 10000,100000,1000000] [--turns 300]

Search: for each size, a fresh DuckDB file with that many messages in 1,000 sessions of
100 users (12 generated words each from a 5,000-word vocabulary; the messages and
their ``search_docs`` rows are bulk-inserted in SQL for speed; each user's in-memory
index is built at its first search), plus one planted message appended through the store
(the real write path). Timed: ``store.search`` for the planted phrase (3 rare words) and
for two common words, scoped to the planted message's user, median of 7 after a warm-up;
and whether the planted message is the first hit.

Per turn: ``Agent.run`` with history=3 against an instant local server, with the index
written as usual and with index writes switched off (``term_index.index_docs`` replaced
by a no-op), alternating blocks of turns in one process so both see the same machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from jupyter_agentmem import Agent, OpenAIChat  # noqa: E402
from jupyter_agentmem.model.server import ChatServer, Reply  # noqa: E402
from jupyter_agentmem.storage import DuckDbAgentStorage  # noqa: E402
from jupyter_agentmem.store import DuckDbStore  # noqa: E402
from jupyter_agentmem.store.sql import store as sql_store  # noqa: E402
from jupyter_agentmem.types import Message, Run  # noqa: E402

PLANTED = "the quartzite zeppelin of marigold harbour"


def seed(path: str, n: int) -> DuckDbStore:
    store = DuckDbStore(path)
    with store.engine.transaction() as con:
        con.execute("""
            INSERT INTO sessions (session_id, user_id, agent_name, model, created_at,
                                  updated_at)
            SELECT 's' || i, 'u' || (i % 100), NULL, 'm', now(), now() FROM range(1000) t(i)""")
        con.execute(f"""
            INSERT INTO runs (run_id, session_id, seq, status, created_at, user_id)
            SELECT 'r' || i, 's' || (i % 1000), i // 1000, 'ok', now(), 'u' || (i % 1000 % 100)
            FROM range({n}) t(i)""")
        # ~12 words per message, drawn by a hash so the text is fixed for a given n.
        con.execute(f"""
            INSERT INTO messages (message_id, session_id, run_id, seq, role, content, created_at)
            SELECT 'm' || i, 's' || (i % 1000), 'r' || i, 0, 'user',
                   array_to_string(list_transform(range(12),
                       lambda k: 'w' || (hash(i * 31 + k) % 5000)::VARCHAR), ' '),
                   now()
            FROM range({n}) t(i)""")
        con.execute("""
            INSERT INTO search_docs
            SELECT m.message_id, 'messages', m.session_id, s.user_id, m.run_id, m.role,
                   0, false, 0
            FROM messages m JOIN sessions s USING (session_id)""")
        con.execute("INSERT INTO search_revs SELECT DISTINCT user_id, 0, 0 FROM sessions")
    run = Run(session_id="s7", messages=[Message(role="user", content=PLANTED)])
    store.as_user("u7").append_run(run)
    return store


def timed(fn, repeat: int = 7) -> tuple[float, object]:
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out


def search_sizes(sizes: list[int]) -> None:
    print(" messages | seed s | planted phrase ms | first hit | two common words ms")
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            store = seed(os.path.join(d, "s.duckdb"), n)
            seeded = time.perf_counter() - t0
            rare_ms, hits = timed(
                lambda s=store: s.as_user("u7").search("quartzite zeppelin marigold"))
            common_ms, _ = timed(lambda s=store: s.as_user("u7").search("w10 w20"))
            first = "yes" if hits and hits[0]["snippet"].startswith(PLANTED[:20]) else "NO"
            print(f"{n:>9,} | {seeded:6.1f} | {rare_ms:17.1f} | {first:>9} | {common_ms:.1f}")
            store.close()


def per_turn(turns: int) -> None:
    server = ChatServer(lambda body: Reply(content="ok " * 20)).start()
    real = sql_store.index_docs
    blocks: dict[str, list[float]] = {"index on": [], "index off": []}
    with tempfile.TemporaryDirectory() as d:
        agent = Agent(model=OpenAIChat(id="m", base_url=server.base_url, api_key="x",
                                       max_retries=0),
                      storage=DuckDbAgentStorage(db_file=os.path.join(d, "t.duckdb")),
                      add_history_to_messages=True, num_history_responses=3)
        for i in range(turns):
            mode = "index on" if (i // 10) % 2 == 0 else "index off"
            sql_store.index_docs = real if mode == "index on" else (lambda con, docs: {})
            t0 = time.perf_counter()
            agent.run(f"turn {i}: a message of about a dozen words to index here")
            blocks[mode].append((time.perf_counter() - t0) * 1000)
    sql_store.index_docs = real
    server.stop()
    on, off = (statistics.median(blocks[k][5:]) for k in ("index on", "index off"))
    print(f"\nper turn ({turns} turns, alternating blocks of 10): index on {on:.2f} ms, "
          f"index off {off:.2f} ms, the index adds {on - off:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--turns", type=int, default=300)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    search_sizes([int(s) for s in args.sizes.split(",")])
    per_turn(args.turns)


if __name__ == "__main__":
    main()
