"""Issue 16's must-show: 100k and 1M-message stores built by the public import, measured.

    .venv/bin/python bench/bench_scale.py [--sizes 100000 1000000] [--main /tmp/i16-main]
                                          [--turns 20] [--searches 100] [--dir DIR] [--check]

For each size N (``--sizes``):

1. An export file, ``scale-N.jsonl``: one user ``ana``, N messages as N/2 runs (a user
   message and a reply) in sessions of 100 runs, one summary per session, 5,000
   memories; the English-like text of ``bench/scale_store.py`` (its ``row_selects``: the
   same rows, word for word, as that script stores). It is written in the format
   ``%agent export`` writes and ``%agent import`` reads (``store/archive.py``'s JSON
   Lines: ``{"table": ..., "row": {...}}``, every column ``export_rows`` gives, times as
   ISO text), by DuckDB from those SELECTs (``COPY ... (FORMAT JSON)``). Not part of any
   figure; ``--check`` proves the format: the imported store's ``export_rows()`` gives
   back exactly the file's rows.
2. For each code: this checkout, and with ``--main PATH`` a copy of main (``git archive
   main | tar -x -C PATH``), a fresh process with ``PYTHONPATH`` = that code (the worker
   checks which ``jupyter_agentmem`` it imported) imports the file into a fresh DuckDB
   file as ``%agent import`` does, acting as the user: ``read_archive(file)`` (read),
   ``open_store(db).as_user("ana").import_rows(rows)`` (import: rows checked, the owner
   check, one bulk write per table, the term index rows), then
   ``store.build_search_index(["ana"])`` (index: the in-memory index built in one pass
   and stored as snapshots, which the first search would otherwise pay; if that code's
   import already built them, this only loads them), then ``close`` (the checkpoint).
   Wall seconds each; the rows each table gained are checked against the file's. Both
   codes import the same file, each into its own store: the stores are built the same
   way, by each code's own import. The import process's peak RSS is shown.
3. Another fresh process of the same code runs ``bench_search_scale.measure`` on that
   store (the measurement code is this checkout's for both rows; the code measured is
   the one on ``PYTHONPATH``): on a copy of the store, a restart (a fresh process's first
   ranking of exchanges and memories / its first ``search()``), then ``--turns`` turns of
   ``Agent.run`` with everything on (memories, summaries, ``recall=3``, ``history=8k``)
   in a new session of ``ana`` against an instant local server, timed from the call to
   the chat request reaching the server and split into wait (the last turn's memory
   job) / memories (selection) / recall / other (history, summary, request); the first
   turn (it loads the index) apart; upkeep per turn (the index rows written with the run,
   none where runs are numbered + what the index in memory learns of the commit +
   catching up at a search); then ``--searches`` ``store.search`` calls (a fifth quoted
   phrases). See ``bench_search_scale.py``'s docstring.
4. One markdown table: size, code, import (total and split), before the request p50
   (split) and p95, search p50 / p95, upkeep p50 / max, restart, and the load average
   (1 min) from the start of the import to the end of the measurement of that row.

Runs one after the other (this code, then main, per size); the machine's load moves
the figures (see RESULTS.md): compare rows of one run. Files go to a temporary folder
removed at the end, or to ``--dir`` (kept; an export file already there is reused).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from scale_store import USER, row_selects, vocabulary  # noqa: E402

# Every column ``Store.export_rows`` gives, in its order, for the tables the file holds;
# a column ``row_selects`` does not fill is written as an export of such a store has it.
EXPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "sessions": ("session_id", "user_id", "agent_name", "model", "created_at", "updated_at",
                 "session_name", "namespace"),
    "runs": ("run_id", "session_id", "seq", "status", "model", "input_tokens",
             "output_tokens", "latency_ms", "error", "user_id", "created_at", "cell_id",
             "superseded_by"),
    "messages": ("message_id", "session_id", "run_id", "seq", "role", "content", "name",
                 "tool_calls", "tool_call_id", "created_at", "edited_at", "deleted_at"),
    "summaries": ("session_id", "version", "summary", "topics", "through_run_seq",
                  "created_at", "edited_at", "deleted_at", "based_on"),
    "memories": ("memory_id", "user_id", "memory", "topics", "input", "session_id",
                 "created_at", "updated_at", "deleted_at", "namespace"),
}
DEFAULTS = {("sessions", "namespace"): "'agent_sessions'",
            ("memories", "namespace"): "'agent_memory'"}


# --- the export file (this process: DuckDB only, none of the code measured) ------------
def write_export(path: str, messages: int) -> dict[str, int]:
    """Write the export file of a store of ``messages`` messages; its rows per table."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET VARIABLE vocab = ?", [vocabulary()])
    counts: dict[str, int] = {}
    parts = []
    for n, (table, columns, select) in enumerate(row_selects(messages)):
        fields = []
        for column in EXPORT_COLUMNS[table]:
            if column not in columns:
                value = DEFAULTS.get((table, column), "NULL")
            elif column.endswith("_at"):  # as export_rows writes a time: isoformat()
                value = f"strftime(q.{column}, '%Y-%m-%dT%H:%M:%S')"
            elif column == "latency_ms":  # a DOUBLE column (the SELECT's literal is DECIMAL)
                value = f"q.{column}::DOUBLE"
            else:
                value = f"q.{column}"
            fields.append(f"'{column}': {value}")
        part = f"{path}.part{n}"
        con.execute(f"""COPY (SELECT '{table}' AS "table", {{{', '.join(fields)}}} AS "row"
                              FROM ({select}) q({', '.join(columns)}))
                        TO '{part}' (FORMAT JSON)""")
        (rows,) = con.execute(f"SELECT count(*) FROM ({select})").fetchone()
        counts[table] = counts.get(table, 0) + rows
        parts.append(part)
    con.close()
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
            os.remove(part)
    return counts


# --- the workers (a fresh process of the code measured) -------------------------------
def _use_code(code: str) -> None:
    """Import ``jupyter_agentmem`` from ``code`` (checked), before anything else does."""
    sys.path.insert(0, code)
    import jupyter_agentmem

    found = os.path.abspath(jupyter_agentmem.__file__)
    if not found.startswith(os.path.join(os.path.abspath(code), "")):
        raise RuntimeError(f"imported {found}, not the code of {code}")


def import_worker(code: str, file: str, db: str, expected: dict[str, int],
                  check: bool) -> dict[str, Any]:
    """What ``%agent import path=file`` does, into a fresh store at ``db``, timed."""
    import resource

    _use_code(code)
    from jupyter_agentmem.store import open_store
    from jupyter_agentmem.store.archive import read_archive

    load = os.getloadavg()[0]
    store = open_store(db)
    store.get_session("none")  # created (and migrated) before the clock starts
    acting = store.as_user(USER)
    t0 = time.perf_counter()
    rows = read_archive(file)
    t1 = time.perf_counter()
    added = acting.import_rows(rows)
    t2 = time.perf_counter()
    store.build_search_index([USER])
    t3 = time.perf_counter()
    wrong = {t: (added.get(t), n) for t, n in expected.items() if added.get(t) != n}
    if wrong:
        raise RuntimeError(f"rows added (added, in the file) differ: {wrong}")
    same = None
    if check:
        def rows_of(found: dict[str, list[dict]]) -> dict[str, list[str]]:
            return {t: sorted(json.dumps(r, sort_keys=True) for r in v)
                    for t, v in found.items() if v}
        same = rows_of(acting.export_rows()) == rows_of(rows)
    del rows
    t4 = time.perf_counter()
    store.close()
    t5 = time.perf_counter()
    return {"read": t1 - t0, "import": t2 - t1, "index": t3 - t2, "close": t5 - t4,
            "total": (t3 - t0) + (t5 - t4), "added": sum(added.values()),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "db_mb": os.path.getsize(db) / 1e6, "same": same, "load_before": load,
            "load_after": os.getloadavg()[0]}


def measure_worker(code: str, db: str, turns: int, searches: int) -> dict[str, Any]:
    _use_code(code)
    import bench_search_scale

    return bench_search_scale.measure(db, turns, searches)


def run_worker(code: str, *args: str) -> dict[str, Any]:
    """This file as a worker in a fresh process with ``PYTHONPATH`` = ``code``; its result
    (the last line of its output, JSON); what else it prints is passed on."""
    env = {**os.environ, "PYTHONPATH": code}
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", code, *args],
                         env=env, cwd=code, stdout=subprocess.PIPE, text=True)
    lines = out.stdout.strip().splitlines()
    for line in lines[:-1]:
        print("    " + line, flush=True)
    if out.returncode != 0 or not lines:
        sys.exit(f"the worker ({code}: {' '.join(args[:1])}) failed: exit {out.returncode}")
    return json.loads(lines[-1])


def worker(argv: list[str]) -> None:
    code, kind, *rest = argv
    if kind == "import":
        file, db, expected, check = rest
        result = import_worker(code, file, db, json.loads(expected), check == "check")
    else:
        db, turns, searches = rest
        result = measure_worker(code, db, int(turns), int(searches))
    print(json.dumps(result))


# --- the driver ------------------------------------------------------------------------
def _describe(code: str) -> str:
    """The commit of ``code`` if it is a git checkout's top (``+ changes`` when its package
    differs from that commit), else ``a copy``."""
    def git(*words: str) -> str:
        return subprocess.run(["git", "-C", code, *words], capture_output=True,
                              text=True).stdout.strip()
    top = git("rev-parse", "--show-toplevel")
    if not top or not os.path.samefile(top, code):
        return "a copy"
    return git("rev-parse", "--short", "HEAD") + (
        " + changes" if git("status", "--porcelain", "jupyter_agentmem") else "")


def _remove_store(db: str) -> None:
    for extra in ("", ".wal", ".lock", ".want"):
        if os.path.exists(db + extra):
            os.remove(db + extra)
    if os.path.isdir(db + ".search"):
        shutil.rmtree(db + ".search")


def row(size: int, label: str, imp: dict[str, Any], m: dict[str, Any]) -> str:
    return (f"| {size:,} | {label} | {imp['total']:.1f} s ({imp['read']:.1f} / "
            f"{imp['import']:.1f} / {imp['index']:.1f} / {imp['close']:.1f}) "
            f"| {m['total']:.1f} ms ({m['wait']:.1f} / {m['memories']:.1f} / "
            f"{m['recall']:.1f} / {m['other']:.1f}) | {m['total_p95']:.1f} ms | "
            f"{m['search_p50']:.1f} / {m['search_p95']:.1f} ms | "
            f"{m['upkeep_p50']:.2f} / {m['upkeep_max']:.2f} ms | "
            f"{m['restart_turn']:.2f} / {m['restart_search']:.2f} s | "
            f"{imp['load_before']:.1f}-{m['load_after']:.1f} |")


HEADER = ("| messages | code | import (read / import / index / close) | before the request p50 "
          "(wait / memories / recall / other) | p95 | search p50 / p95 | upkeep p50 / max | "
          "restart: turn's index / search's | load |\n|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--main", help="a copy of main (git archive main | tar -x -C PATH)")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--searches", type=int, default=100)
    parser.add_argument("--dir", help="keep the export files and stores here")
    parser.add_argument("--check", action="store_true",
                        help="check that the imported store exports exactly the file's rows")
    args = parser.parse_args()
    codes = [("this code", ROOT)]
    if args.main:
        main_code = os.path.abspath(args.main)
        if not os.path.isfile(os.path.join(main_code, "jupyter_agentmem", "__init__.py")):
            sys.exit(f"{args.main}: no jupyter_agentmem/ there (make it with git archive)")
        codes.append(("main", main_code))
    import duckdb

    print(f"python {sys.version.split()[0]}, duckdb {duckdb.__version__}, "
          f"{os.cpu_count()} cpus, load {os.getloadavg()}")
    for label, code in codes:
        print(f"{label}: {code} ({_describe(code)})")
    folder = args.dir or tempfile.mkdtemp(dir="/tmp", prefix="bench-scale-")
    os.makedirs(folder, exist_ok=True)
    lines = []
    try:
        for size in args.sizes:
            file = os.path.join(folder, f"scale-{size}.jsonl")
            counts_file = file + ".counts"
            t0 = time.perf_counter()
            if os.path.exists(file) and os.path.exists(counts_file):
                with open(counts_file) as f:
                    counts = json.load(f)
                print(f"\n{size:,} messages: {file} reused", flush=True)
            else:
                counts = write_export(file, size)
                with open(counts_file, "w") as f:
                    json.dump(counts, f)
                print(f"\n{size:,} messages: {file} written in {time.perf_counter() - t0:.1f} s",
                      flush=True)
            print(f"  {os.path.getsize(file) / 1e6:.0f} MB, "
                  + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
            for label, code in codes:
                db = os.path.join(folder, f"scale-{size}-{label.replace(' ', '-')}.duckdb")
                _remove_store(db)
                imp = run_worker(code, "import", file, db, json.dumps(counts),
                                 "check" if args.check else "-")
                print(f"  {label}: import {imp['total']:.1f} s (read {imp['read']:.1f}, "
                      f"import_rows {imp['import']:.1f}, index {imp['index']:.1f}, close "
                      f"{imp['close']:.1f}), {imp['added']:,} rows, peak RSS "
                      f"{imp['rss_mb']:,.0f} MB, store {imp['db_mb']:,.0f} MB"
                      + ("" if imp["same"] is None else
                         f", export = file: {'yes' if imp['same'] else 'NO'}"), flush=True)
                if imp["same"] is False:
                    sys.exit("the imported store does not export the file's rows")
                m = run_worker(code, "measure", db, str(args.turns), str(args.searches))
                print(f"  {label}: before the request p50 {m['total']:.1f} ms, first turn "
                      f"{m['first_turn']:.0f} ms, search p95 {m['search_p95']:.1f} ms",
                      flush=True)
                lines.append(row(size, label, imp, m))
                if not args.dir:
                    _remove_store(db)
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"\nload after: {os.getloadavg()}\n")
    print(HEADER)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
