"""Other engines on the same 1M messages: tantivy and SQLite FTS5 (issue 16's choice).

    # the messages of a store of bench/scale_store.py, one per line (project venv):
    .venv/bin/python -c "import duckdb; duckdb.connect('/tmp/i16-scale-1m.duckdb',
        read_only=True).execute(\"COPY (SELECT message_id, run_id, replace(content,
        chr(10), ' ') FROM messages ORDER BY run_id, seq) TO '/tmp/i16-msgs.tsv'
        (DELIMITER '\t', HEADER false, QUOTE '')\")"
    # tantivy in a scratch venv (not a dependency of the project):
    python3 -m venv /tmp/scratch && /tmp/scratch/bin/pip install tantivy
    /tmp/scratch/bin/python bench/bench_engines.py tantivy /tmp/i16-msgs.tsv
    python3 bench/bench_engines.py fts5 /tmp/i16-msgs.tsv

Build the index of every message, then 60 queries (the first 12 words of a random
message, OR of the words, top 20), then 20 turns (two texts added and committed).
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


def main() -> None:
    which, source = sys.argv[1], sys.argv[2]
    with open(source) as lines:
        rows = [line.rstrip("\n").split("\t") for line in lines]
    rng = random.Random(7)
    queries = [" ".join(rng.choice(rows)[2].split()[:12]) for _ in range(60)]
    folder = tempfile.mkdtemp(dir="/tmp")
    lat, commits = [], []
    if which == "tantivy":
        import tantivy

        schema = tantivy.SchemaBuilder()
        schema.add_text_field("id", stored=True, tokenizer_name="raw")
        schema.add_text_field("body", stored=False, tokenizer_name="en_stem")
        index = tantivy.Index(schema.build(), path=folder)
        t0 = time.perf_counter()
        writer = index.writer(heap_size=200_000_000, num_threads=1)
        for mid, _, text in rows:
            writer.add_document(tantivy.Document(id=mid, body=text))
        writer.commit()
        writer.wait_merging_threads()
        built = time.perf_counter() - t0
        index.reload()
        searcher = index.searcher()
        for q in queries:
            t0 = time.perf_counter()
            searcher.search(index.parse_query(q, ["body"]), 20)
            lat.append((time.perf_counter() - t0) * 1000)
        writer = index.writer(heap_size=50_000_000, num_threads=1)
        for i in range(20):
            t0 = time.perf_counter()
            writer.add_document(tantivy.Document(id=f"n{i}", body=queries[i]))
            writer.add_document(tantivy.Document(id=f"r{i}", body=queries[i + 1]))
            writer.commit()
            commits.append((time.perf_counter() - t0) * 1000)
    else:
        con = sqlite3.connect(os.path.join(folder, "fts.sqlite"))
        con.execute("CREATE VIRTUAL TABLE f USING fts5(mid UNINDEXED, body, tokenize='porter')")
        t0 = time.perf_counter()
        con.executemany("INSERT INTO f VALUES (?, ?)", [(m, t) for m, _, t in rows])
        con.commit()
        built = time.perf_counter() - t0
        for q in queries:
            match = " OR ".join('"' + w + '"' for w in q.split())
            t0 = time.perf_counter()
            con.execute("SELECT mid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 20",
                        [match]).fetchall()
            lat.append((time.perf_counter() - t0) * 1000)
        for i in range(20):
            t0 = time.perf_counter()
            con.execute("INSERT INTO f VALUES (?, ?)", ("n", queries[i]))
            con.execute("INSERT INTO f VALUES (?, ?)", ("r", queries[i + 1]))
            con.commit()
            commits.append((time.perf_counter() - t0) * 1000)
        con.close()
    shutil.rmtree(folder)
    print(f"{which}: build {built:.0f} s, query p50 {statistics.median(lat):.0f} ms / p95 "
          f"{pct(lat, 0.95):.0f} ms, a turn's insert + commit {statistics.median(commits):.0f} "
          f"ms (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
