"""A DuckDB store of one user with N messages and 5,000 memories, English-like, built fast.

    .venv/bin/python bench/scale_store.py PATH --messages 1000000

The rows are generated inside DuckDB (``INSERT ... SELECT`` from ``range``; a million
messages in seconds, where a million turns through ``append_run`` would take hours):
N/2 runs of a user message and a reply in sessions of 100 runs, one summary per
session, 5,000 memories, all the user ``ana``'s. The text is English-like: each word is
a function word ("the", "you", "is"...) half the time, a common content word ("think",
"time", "really"...) a third of the time, else one of 30,000 rarer words, each band
drawn Zipf-like, so the commonest words are in most messages as in real chat. Words
are drawn by hashing (message, position): the same N gives the same store.

The schema is the one of the code on ``PYTHONPATH`` (``open_store`` migrates the new
file): with ``search_terms`` (main before issue 16) its term rows are filled in SQL as
that code splits words; else the index's ``search_docs`` rows and the user's revision,
and then the in-memory index is built once and stored as snapshots (timed: that is
what an import or a migration of such a store costs once).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __name__ == "__main__":  # as a script: this checkout's code (imported: the importer's)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

USER = "ana"
SESSION_RUNS = 100
MEMORIES = 5000

FUNCTION_WORDS = """the i you to a and it is of that in my what do for me can this be have
was with on not so but are just your we they how about like if at or all there an get one
would he she will as know from by out up some did no his her them were when then had
which more been could also their our us its than any am has into over because why very
here where who those these much too only should does being off before after""".split()
CONTENT_WORDS = """think really going time good want need make see way work day thing
people new use try look right well back help first still great sure long little last
next week year today idea kind question problem point data file code run call show tell
ask talk find give keep start stop change move play read write plan book meet friend
family home house city trip car walk dinner lunch coffee music movie game team project
report meeting email phone job school class test result number list table chart model
paper note story picture photo garden dog cat sister brother mother father birthday
weekend morning evening night monday friday summer winter money price order store shop
doctor health sleep run gym swim bike train flight hotel beach mountain lake river
""".split()


def rare_words(n: int) -> list[str]:
    """``n`` pronounceable made-up words (consonant-vowel syllables), all distinct."""
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    syllables = [c + v for c in consonants for v in vowels]
    words, i = [], 0
    while len(words) < n:
        a, b, c = i % 90, (i // 90) % 90, i // 8100
        words.append(syllables[a] + syllables[b] + (syllables[c % 90] if c else "")
                     + ("n" if c >= 90 else ""))
        i += 1
    return words


def text_sql(seed: str, min_words: int, spread: int) -> str:
    """A DuckDB expression: a text of ``min_words`` + (0..spread) words for the row
    numbered ``seed``."""
    f, c = len(FUNCTION_WORDS), len(CONTENT_WORDS)
    draw = f"((hash({seed} * 131 + p) % 1000000) / 1000000.0)"
    pick = f"((hash({seed} * 137 + p + 7) % 1000000) / 1000000.0)"
    zipf = "CAST(floor(exp({u} * ln({n}))) AS BIGINT) - 1"
    index = (f"CASE WHEN {draw} < 0.5 THEN {zipf.format(u=pick, n=f)} "
             f"WHEN {draw} < 0.83 THEN {f} + {zipf.format(u=pick, n=c)} "
             f"ELSE {f + c} + {zipf.format(u=pick, n=30000)} END")
    count = f"CAST({min_words} + hash({seed} * 139) % {spread + 1} AS BIGINT)"
    return (f"array_to_string(list_transform(range({count}), "
            f"lambda p: vocab[{index} + 1]), ' ')")


def vocabulary() -> list[str]:
    """The words a text is drawn from (``text_sql``'s ``vocab``): function words, common
    content words, then the rare words."""
    return FUNCTION_WORDS + CONTENT_WORDS + rare_words(30000)


START = "TIMESTAMP '2025-01-01'"


def row_selects(messages: int) -> list[tuple[str, tuple[str, ...], str]]:
    """The store's rows as DuckDB SELECTs: (table, columns, SELECT of those columns in
    that order), parents first. Texts draw from the variable ``vocab``
    (``SET VARIABLE vocab = ?`` with ``vocabulary()``). ``build`` inserts them;
    ``bench_scale.py`` writes them as an export file."""
    runs = messages // 2
    sessions = max(1, runs // SESSION_RUNS)
    vocab, start = "getvariable('vocab')", START
    selects = [
        ("sessions", ("session_id", "user_id", "agent_name", "model", "created_at",
                      "updated_at"),
         f"""SELECT 's' || i, '{USER}', NULL, 'bench',
                    {start} + INTERVAL (i * {SESSION_RUNS}) MINUTE,
                    {start} + INTERVAL ((i + 1) * {SESSION_RUNS}) MINUTE
             FROM range({sessions}) t(i)"""),
        ("runs", ("run_id", "session_id", "seq", "status", "model", "input_tokens",
                  "output_tokens", "latency_ms", "user_id", "created_at"),
         f"""SELECT 'r' || i, 's' || (i // {SESSION_RUNS}), i % {SESSION_RUNS}, 'ok',
                    'bench', 100, 50, 10.0, '{USER}', {start} + INTERVAL (i) MINUTE
             FROM range({runs}) t(i)"""),
    ]
    for role, seq, words, spread in (("user", 0, 6, 18), ("assistant", 1, 12, 36)):
        text = text_sql(f"(2 * i + {seq})", words, spread).replace("vocab[", f"{vocab}[")
        selects.append((
            "messages", ("message_id", "session_id", "run_id", "seq", "role", "content",
                         "created_at"),
            f"""SELECT 'm' || (2 * i + {seq}), 's' || (i // {SESSION_RUNS}), 'r' || i,
                       {seq}, '{role}', {text}, {start} + INTERVAL (i) MINUTE
                FROM range({runs}) t(i)"""))
    memory = text_sql("(i + 7000000)", 5, 10).replace("vocab[", f"{vocab}[")
    selects.append((
        "memories", ("memory_id", "user_id", "memory", "topics", "input", "session_id",
                     "created_at", "updated_at"),
        f"""SELECT 'mem' || i, '{USER}', 'The user ' || {memory}, ['bench'], NULL,
                   's' || (i % {sessions}), {start} + INTERVAL (i) MINUTE,
                   {start} + INTERVAL (i) MINUTE
            FROM range({MEMORIES}) t(i)"""))
    summary = text_sql("(i + 9000000)", 30, 30).replace("vocab[", f"{vocab}[")
    selects.append((
        "summaries", ("session_id", "version", "summary", "topics", "through_run_seq",
                      "created_at"),
        f"""SELECT 's' || i, 1, {summary}, ['bench'], {SESSION_RUNS - 1},
                   {start} + INTERVAL ((i + 1) * {SESSION_RUNS}) MINUTE
            FROM range({sessions}) t(i)"""))
    return selects


def build(path: str, messages: int) -> dict[str, float]:
    import duckdb

    from jupyter_agentmem.store import open_store

    took: dict[str, float] = {}
    t0 = time.perf_counter()
    made = open_store(path)
    made.get_session("none")  # opened (and migrated): the schema of the code on PYTHONPATH
    made.close()
    con = duckdb.connect(path)
    con.execute("SET VARIABLE vocab = ?", [vocabulary()])
    con.execute("BEGIN")
    for table, columns, select in row_selects(messages):
        con.execute(f"INSERT INTO {table} ({', '.join(columns)}) {select}")
    columns = [r[0] for r in con.execute("DESCRIBE search_docs").fetchall()]
    rev = ", 0" if "rev" in columns else ""
    con.execute(f"""INSERT INTO search_docs SELECT message_id, 'messages', session_id, '{USER}',
                        run_id, role, 0, false{rev} FROM messages""")
    con.execute(f"""INSERT INTO search_docs SELECT memory_id, 'memories', session_id, '{USER}',
                        NULL, NULL, 0, false{rev} FROM memories""")
    con.execute(f"""INSERT INTO search_docs SELECT session_id || '#1', 'summaries', session_id,
                        '{USER}', NULL, NULL, 0, false{rev} FROM summaries""")
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    if "search_terms" in tables:  # main's term index: lower-cased \w+ words, as it splits
        for table, key, text in (("messages", "message_id", "content"),
                                 ("memories", "memory_id", "memory"),
                                 ("summaries", "session_id || '#1'", "summary")):
            con.execute(f"""INSERT INTO search_terms
                            SELECT term, doc, count(*)::INTEGER FROM (
                                SELECT {key} AS doc,
                                       unnest(regexp_extract_all(lower({text}), '\\w+')) AS term
                                FROM {table}) GROUP BY ALL""")
            con.execute(f"""UPDATE search_docs SET length = n FROM (
                                SELECT {key} AS doc, len(regexp_extract_all(lower({text}),
                                                                        '\\w+')) AS n
                                FROM {table}) WHERE doc_id = doc""")
    else:
        con.execute(f"INSERT INTO search_revs VALUES ('{USER}', 0, 0)")
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    con.close()
    took["rows"] = time.perf_counter() - t0
    if "search_terms" not in tables:
        t0 = time.perf_counter()
        store = open_store(path)
        store.build_search_index([USER])
        store.close()
        took["index"] = time.perf_counter() - t0
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    if os.path.exists(args.path):
        sys.exit(f"{args.path} exists: remove it first (or reuse it)")
    took = build(args.path, args.messages)
    print(", ".join(f"{k} {v:.1f} s" for k, v in took.items()))


if __name__ == "__main__":
    main()
