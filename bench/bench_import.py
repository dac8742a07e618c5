"""Import and export of a whole store: 100k messages and 5,000 memories, on each backend.

    .venv/bin/python bench/bench_import.py [--messages 100000] [--memories 5000]
                                           [--backends duckdb,sqlite,postgres]

An export file (``.jsonl``, as ``%agent export`` / ``migrate`` write it) is generated
first, not timed: ``--messages`` messages (a user message and a reply per run) in
sessions of 50 runs of 20 users, English-like text (common words in most messages,
5-120 words each), a ``run_contexts`` row per run and its ``request_parts`` (each
message sent once, by hash, as the agent stores them), ``--memories`` memories with
topics, their ``memory_events`` and ``provenance``, three summary versions per session
and a ``model_calls`` row per memory call. Then, on a fresh store of each backend (a
DuckDB file, a SQLite file, a throwaway PostgreSQL server as ``tests/pg_server.py``
starts it):

- read: ``read_archive`` (the file's JSON lines parsed);
- import: ``Store.import_rows`` (with read, what ``%agent import`` does);
- search: one ``Store.search`` (the import built the index: the query finds a planted
  message);
- again: ``read_archive`` + ``Store.import_rows`` of the same file (adds nothing);
- export: ``Store.export_rows`` + ``write_archive`` (what ``%agent export`` / the first
  half of ``migrate`` do), checked to give back every row imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))

from jupyter_agentmem.store import open_store  # noqa: E402
from jupyter_agentmem.store.archive import read_archive, write_archive  # noqa: E402

COMMON = ("i you the a to and of it is in that for my me we on was have be this with so but "
          "just not are do at like what can if your about all they get it's i'm know think "
          "one out up don't there would really when how some go time too good now more "
          "been yeah well then that's from them also because want much their see had will "
          "did going people oh thanks sure could or an make something back thing today "
          "yes right still lot even last day new any maybe other way week here very pretty "
          "great first next need feel little work love said take these those try why any "
          "things our us over into after before again never always home nice fun").split()
USERS, RUNS_PER_SESSION, SUMMARY_VERSIONS = 20, 50, 3
PLANTED = "the quartzite zeppelin of marigold harbour"


def _content_words(rng: random.Random, n: int) -> list[str]:
    """Pronounceable made-up words: the long tail of a chat's vocabulary."""
    onsets, vowels, codas = "b c d f g h j k l m n p r s t v w z br cr dr fl gr pl st tr".split(), \
        "a e i o u ai ea oo ou".split(), "n r s t l m nd st ck ng".split() + [""]
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(onsets) + rng.choice(vowels)
                          for _ in range(rng.randint(1, 3))) + rng.choice(codas))
    return sorted(words)


class Text:
    """English-like messages: ~60% common words, the rest Zipf-drawn from a long tail."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tail = _content_words(rng, 6000)
        self.weights = [1 / (i + 1) for i in range(len(self.tail))]

    def message(self, low: int = 5, high: int = 120) -> str:
        n = min(high, max(low, int(self.rng.lognormvariate(2.8, 0.7))))
        commons = self.rng.choices(COMMON, k=n)
        tails = self.rng.choices(self.tail, weights=self.weights, k=n)
        words = [c if self.rng.random() < 0.6 else t for c, t in zip(commons, tails)]
        return (" ".join(words).capitalize() + self.rng.choice(".?!")).replace(" i ", " I ")


def _part(body: dict) -> tuple[str, str]:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest(), text


def export_rows(n_messages: int, n_memories: int, seed: int = 1) -> dict[str, list[dict]]:
    """The rows of a store of that size, as ``Store.export_rows`` gives them."""
    rng = random.Random(seed)
    text = Text(rng)
    start = datetime(2026, 1, 1)
    rows: dict[str, list[dict]] = {t: [] for t in (
        "sessions", "runs", "messages", "summaries", "memories", "memory_events",
        "model_calls", "run_contexts", "request_parts", "provenance")}
    parts: dict[str, str] = {}
    n_runs = n_messages // 2
    n_sessions = max(1, n_runs // RUNS_PER_SESSION)
    system = {u: _part({"role": "system", "content": f"You are a helpful assistant. {u}."})
              for u in range(USERS)}
    parts.update(system.values())
    run_ids: list[tuple[str, str, int]] = []  # (run_id, session_id, user)
    for s in range(n_sessions):
        user, sid = s % USERS, f"session-{s:05d}"
        t0 = start + timedelta(hours=7 * s)
        rows["sessions"].append({
            "session_id": sid, "user_id": f"user-{user:02d}", "agent_name": None,
            "model": "gpt-4o-mini", "created_at": t0.isoformat(),
            "updated_at": (t0 + timedelta(minutes=RUNS_PER_SESSION)).isoformat(),
            "session_name": None, "namespace": "agent_sessions"})
        history: list[str] = []
        for seq in range(RUNS_PER_SESSION):
            i = s * RUNS_PER_SESSION + seq
            if i >= n_runs:
                break
            rid, when = f"run-{i:07d}", (t0 + timedelta(minutes=seq)).isoformat()
            run_ids.append((rid, sid, user))
            rows["runs"].append({
                "run_id": rid, "session_id": sid, "seq": seq, "status": "ok",
                "model": "gpt-4o-mini", "input_tokens": rng.randint(50, 3000),
                "output_tokens": rng.randint(5, 600), "latency_ms": rng.uniform(300, 4000),
                "error": None, "user_id": f"user-{user:02d}", "created_at": when,
                "cell_id": None, "superseded_by": None})
            said = text.message()
            if i == n_runs // 2:
                said = "I once read about " + PLANTED + " in a book."
            reply = text.message(5, 200)
            ids = []
            for k, (role, content) in enumerate((("user", said), ("assistant", reply))):
                rows["messages"].append({
                    "message_id": f"msg-{i:07d}-{k}", "session_id": sid, "run_id": rid,
                    "seq": k, "role": role, "content": content, "name": None,
                    "tool_calls": None, "tool_call_id": None, "created_at": when,
                    "edited_at": None, "deleted_at": when if rng.random() < 0.002 else None})
                h, body = _part({"role": role, "content": content})
                parts[h] = body
                ids.append(h)
            rows["run_contexts"].append({
                "run_id": rid, "session_id": sid,
                "parts": json.dumps([system[user][0], *history[-6:], ids[0]]),
                "tokens": json.dumps({"system": 12, "memories": 0, "summary": 0,
                                      "recalled": 0, "history": 40 * len(history[-6:]),
                                      "message": len(said) // 4}),
                "estimated": False, "recalled": None})
            history += ids
        for v in range(1, SUMMARY_VERSIONS + 1):
            rows["summaries"].append({
                "session_id": sid, "version": v, "summary": text.message(30, 120),
                "topics": [rng.choice(text.tail) for _ in range(3)],
                "through_run_seq": v * RUNS_PER_SESSION // SUMMARY_VERSIONS - 1,
                "created_at": (t0 + timedelta(minutes=v * 15)).isoformat(), "edited_at": None,
                "deleted_at": None, "based_on": v - 1 or None})
    for m in range(n_memories):
        rid, sid, user = run_ids[(m * 7919) % len(run_ids)]
        mid, when = f"mem-{m:05d}", (start + timedelta(minutes=m)).isoformat()
        memory = "The user " + text.message(6, 30)[0].lower() + text.message(6, 30)[1:]
        rows["memories"].append({
            "memory_id": mid, "user_id": f"user-{user:02d}", "memory": memory,
            "topics": [rng.choice(text.tail) for _ in range(2)], "input": None,
            "session_id": sid, "created_at": when, "updated_at": when,
            "deleted_at": None, "namespace": "agent_memory"})
        rows["memory_events"].append({
            "event_id": f"event-{m:05d}", "target": "memory", "target_id": mid,
            "user_id": f"user-{user:02d}", "session_id": sid, "action": "add", "old": None,
            "new": json.dumps({"memory": memory}), "actor": "model", "created_at": when})
        rows["model_calls"].append({
            "call_id": f"call-{m:05d}", "kind": "memory", "model": "gpt-4o-mini",
            "session_id": sid, "user_id": f"user-{user:02d}", "run_id": rid,
            "input_tokens": 800, "output_tokens": 60, "latency_ms": 900.0, "ok": True,
            "created_at": when})
        rows["provenance"].append({"target": "memory", "target_id": mid, "run_id": rid,
                                   "session_id": sid, "user_id": f"user-{user:02d}"})
    rows["request_parts"] = [{"part_hash": h, "body": b} for h, b in sorted(parts.items())]
    return rows


def _normalised(rows: dict[str, list[dict]]) -> dict[str, list[str]]:
    """Rows comparable across backends: timestamps and floats as one text, sorted."""
    def value(v: object) -> object:
        if isinstance(v, bool):  # SQLite keeps booleans as 0 / 1
            return int(v)
        if isinstance(v, float):
            return round(v, 6)
        if isinstance(v, str) and len(v) >= 19 and v[10:11] in ("T", " ") and v[4] == "-":
            return v.replace(" ", "T")
        return v
    return {t: sorted(json.dumps({k: value(v) for k, v in r.items()}, sort_keys=True)
                      for r in found) for t, found in rows.items() if found}


def bench(location: str, path: str, rows: dict[str, list[dict]], folder: str) -> dict:
    store = open_store(location)
    t0 = time.perf_counter()
    read = read_archive(path)
    t1 = time.perf_counter()
    read_s = t1 - t0
    # Many users' rows: the whole-store import (migrate; what %agent import does for one
    # user's rows, with the owner check: sql/import_owner.py).
    added = store.import_all(read)
    imported = time.perf_counter() - t1
    del read
    planted = next(m for m in rows["messages"] if PLANTED in (m["content"] or ""))
    owner = next(s["user_id"] for s in rows["sessions"]
                 if s["session_id"] == planted["session_id"])
    hits = store.as_user(owner).search("quartzite zeppelin marigold", limit=3)
    found = bool(hits) and PLANTED in hits[0]["snippet"]
    t0 = time.perf_counter()
    again = store.import_all(read_archive(path))
    twice = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = store.export_all()
    write_archive(out, os.path.join(folder, "out.jsonl"))
    exported = time.perf_counter() - t0
    same = _normalised(out) == _normalised(rows)
    store.close()
    return {"read_s": read_s, "import_s": imported, "again_s": twice, "export_s": exported,
            "added": sum(added.values()), "again_added": sum(again.values()),
            "found": found, "same": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--memories", type=int, default=5_000)
    parser.add_argument("--backends", default="duckdb,sqlite,postgres")
    args = parser.parse_args()
    rows = export_rows(args.messages, args.memories)
    total = sum(len(r) for r in rows.values())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()}")
    print(f"export: {total:,} rows ({', '.join(f'{t} {len(r):,}' for t, r in rows.items())})")
    pg = None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "export.jsonl")
        write_archive(rows, path)
        print(f"file: {os.path.getsize(path) / 1e6:.1f} MB\n")
        print("backend  | read s | import s | again s | export s | rows added | again added "
              "| search finds it | export = import")
        for backend in args.backends.split(","):
            if backend == "duckdb":
                location = os.path.join(folder, "t.duckdb")
            elif backend == "sqlite":
                location = "sqlite://" + os.path.join(folder, "t.sqlite")
            else:
                from pg_server import PgServer

                pg = pg or PgServer().start()
                location = pg.new_database()
            r = bench(location, path, rows, folder)
            print(f"{backend:8} | {r['read_s']:6.1f} | {r['import_s']:8.1f} | "
                  f"{r['again_s']:7.1f} | {r['export_s']:8.1f} | {r['added']:10,} | "
                  f"{r['again_added']:11,} | "
                  f"{'yes' if r['found'] else 'NO':>15} | {'yes' if r['same'] else 'NO'}",
                  flush=True)
    if pg is not None:
        pg.stop()
    print(f"\nload after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
