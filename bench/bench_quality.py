"""Retrieval quality on the labelled set: our search and recall against BM25 baselines.

    .venv/bin/python bench/bench_quality.py [--set tests/fixtures/retrieval/set.json]
                                            [--location DB] [--by-category]

The set (``tests/fixtures/make_retrieval.py``) is long chats of several users and
questions, each with the ids of the messages holding its answer. It is loaded into a
real store through the public import (``Store.import_rows``: sessions, runs, messages
with their ids; the store builds its search index as for any import), a fresh DuckDB
file unless ``--location`` names another store (``sqlite://...``, ``postgresql://...``).
Then, for each question, scoped to the question's user:

- search (one message per hit): ``Store.search(question, kinds=["messages"], limit=10)``
  as that user; scored on the evidence messages;
- recall (exchanges): ``memory.recall.recall_exchanges(store, user, question, 10)``, the
  exchanges ``recall=N`` would put in the prompt, best first; scored on the runs that
  hold the evidence messages.

recall@k = the share of a question's evidence (messages, or runs) found in the top k,
averaged over the questions. The baselines rank the same user's texts, one document per
message (search) or per exchange, the user message and the reply as one text (recall):
``rank_bm25.BM25Okapi`` over lower-cased words (``\\w+``, as our index splits them), and
``bm25s`` with English stopwords and PyStemmer's Snowball stemmer.

``ours_search`` and ``ours_recall`` are the only calls into our code: they call the store
as acting user (``Store.as_user``) where the store has it, else with ``user_id=``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from jupyter_agentmem.memory.recall import recall_exchanges  # noqa: E402
from jupyter_agentmem.store import Store, open_store  # noqa: E402

SET = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "retrieval",
                   "set.json")
KS = (1, 5, 10)
_WORD = re.compile(r"\w+")

# question -> ranked ids (messages for search, runs for recall)
Ranker = Callable[[dict[str, Any]], list[str]]


def load_set(path: str = SET) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def import_rows_of(data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The set as an export's rows: what ``Store.import_rows`` takes."""
    rows: dict[str, list[dict[str, Any]]] = {"sessions": [], "runs": [], "messages": []}
    for s in data["sessions"]:
        last = s["runs"][-1]["created_at"] if s["runs"] else s["created_at"]
        rows["sessions"].append({"session_id": s["session_id"], "user_id": s["user_id"],
                                 "agent_name": None, "model": "chat", "created_at":
                                 s["created_at"], "updated_at": last})
        for seq, run in enumerate(s["runs"]):
            rows["runs"].append({"run_id": run["run_id"], "session_id": s["session_id"],
                                 "seq": seq, "status": "ok", "model": "chat",
                                 "user_id": s["user_id"], "created_at": run["created_at"]})
            for k, m in enumerate(run["messages"]):
                rows["messages"].append({
                    "message_id": m["message_id"], "session_id": s["session_id"],
                    "run_id": run["run_id"], "seq": k, "role": m["role"],
                    "content": m["content"], "created_at": run["created_at"]})
    return rows


def load_store(location: str, data: dict[str, Any]) -> Store:
    store = open_store(location)
    # Several users' rows: the whole-store import (the migrate path; an import by one
    # user refuses the others' rows).
    store.import_all(import_rows_of(data))
    return store


# --- ours ----------------------------------------------------------------------
def _acting(store: Store, user: str) -> tuple[Any, dict[str, str]]:
    """The store acting as ``user`` and the keyword a call needs: after issue 15 a store
    has ``as_user`` and no ``user_id`` parameters; before it, ``user_id=``."""
    as_user = getattr(store, "as_user", None)
    if as_user is not None:
        return as_user(user), {}
    return store, {"user_id": user}


def ours_search(store: Store, limit: int = max(KS)) -> Ranker:
    def rank(q: dict[str, Any]) -> list[str]:
        acting, scope = _acting(store, q["user_id"])
        hits = acting.search(q["question"], kinds=["messages"], limit=limit, **scope)
        return [h["id"] for h in hits]
    return rank


def ours_recall(store: Store, n: int = max(KS)) -> Ranker:
    takes_user = "user_id" in inspect.signature(recall_exchanges).parameters

    def rank(q: dict[str, Any]) -> list[str]:
        acting, _ = _acting(store, q["user_id"])
        found = (recall_exchanges(acting, q["user_id"], q["question"], n) if takes_user
                 else recall_exchanges(acting, q["question"], n))
        return [e.run_id for e in found]
    return rank


# --- baselines -------------------------------------------------------------------
def documents(data: dict[str, Any], unit: str) -> dict[str, tuple[list[str], list[str]]]:
    """user -> (ids, texts): one per message (``unit="message"``) or per exchange."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for s in data["sessions"]:
        ids, texts = out.setdefault(s["user_id"], ([], []))
        for run in s["runs"]:
            if unit == "message":
                for m in run["messages"]:
                    ids.append(m["message_id"])
                    texts.append(m["content"] or "")
            else:
                ids.append(run["run_id"])
                texts.append("\n".join(m["content"] or "" for m in run["messages"]))
    return out


def _top(scores: Any, ids: Sequence[str], k: int) -> list[str]:
    import numpy as np

    order = np.argsort(-np.asarray(scores), kind="stable")[:k]
    return [ids[i] for i in order if scores[i] > 0]


def plain_bm25(data: dict[str, Any], unit: str, k: int = max(KS)) -> Ranker:
    """rank_bm25's BM25Okapi over lower-cased words, one index per user."""
    from rank_bm25 import BM25Okapi

    def words(text: str) -> list[str]:
        return _WORD.findall(text.lower())

    indexes = {u: (ids, BM25Okapi([words(t) for t in texts]))
               for u, (ids, texts) in documents(data, unit).items()}

    def rank(q: dict[str, Any]) -> list[str]:
        ids, index = indexes[q["user_id"]]
        return _top(index.get_scores(words(q["question"])), ids, k)
    return rank


def stemmed_bm25(data: dict[str, Any], unit: str, k: int = max(KS)) -> Ranker:
    """bm25s with English stopwords and PyStemmer's Snowball stemmer, one index per user."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    indexes = {}
    for u, (ids, texts) in documents(data, unit).items():
        index = bm25s.BM25()
        index.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
                    show_progress=False)
        indexes[u] = (ids, index)

    def rank(q: dict[str, Any]) -> list[str]:
        ids, index = indexes[q["user_id"]]
        tokens = bm25s.tokenize([q["question"]], stopwords="en", stemmer=stemmer,
                                show_progress=False)
        if not tokens.ids[0]:
            return []
        found, scores = index.retrieve(tokens, k=min(k, len(ids)), show_progress=False)
        return [ids[i] for i, s in zip(found[0], scores[0]) if s > 0]
    return rank


# --- scoring ---------------------------------------------------------------------
def evidence_runs(q: dict[str, Any]) -> list[str]:
    """The runs holding a question's evidence messages (a message id is its run's + -u/-a)."""
    return sorted({m.rsplit("-", 1)[0] for m in q["evidence"]})


def recall_at(questions: Sequence[dict[str, Any]], rank: Ranker, unit: str,
              ks: Sequence[int] = KS) -> dict[int, float]:
    """Mean share of each question's evidence in the top k, as a percentage, per k."""
    sums = dict.fromkeys(ks, 0.0)
    for q in questions:
        wanted = set(q["evidence"] if unit == "message" else evidence_runs(q))
        ranked = rank(q)
        for k in ks:
            sums[k] += len(wanted & set(ranked[:k])) / len(wanted)
    return {k: 100 * s / len(questions) for k, s in sums.items()}


def by_category(questions: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for q in questions:
        out.setdefault(q["category"], []).append(q)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default=SET)
    parser.add_argument("--location", default=None, help="a store (default: a new DuckDB "
                        "file)")
    parser.add_argument("--by-category", action="store_true")
    args = parser.parse_args()
    data = load_set(args.set)
    questions = data["questions"]
    messages = sum(len(r["messages"]) for s in data["sessions"] for r in s["runs"])
    print(f"python {sys.version.split()[0]}, load {os.getloadavg()}")
    print(f"set: {len(data['users'])} users, {len(data['sessions'])} sessions, "
          f"{messages:,} messages, {len(questions)} questions")
    with tempfile.TemporaryDirectory() as folder:
        t0 = time.perf_counter()
        store = load_store(args.location or os.path.join(folder, "set.duckdb"), data)
        print(f"imported in {time.perf_counter() - t0:.1f} s")
        rows = [
            ("ours", ours_search(store), ours_recall(store)),
            ("plain BM25 (rank_bm25, lowercase words)", plain_bm25(data, "message"),
             plain_bm25(data, "exchange")),
            ("BM25, stopwords + Snowball stemmer (bm25s + PyStemmer)",
             stemmed_bm25(data, "message"), stemmed_bm25(data, "exchange")),
        ]
        groups = {"all": questions}
        if args.by_category:
            groups.update(by_category(questions))
        for name, group in groups.items():
            print(f"\n{name} ({len(group)} questions): recall@1 / @5 / @10, %\n")
            print("| | search (one message per hit) | recall (exchanges) | ms per question "
                  "(search, recall) |\n|---|---|---|---|")
            for label, search, recall in rows:
                t0 = time.perf_counter()
                s = recall_at(group, search, "message")
                t1 = time.perf_counter()
                r = recall_at(group, recall, "exchange")
                t2 = time.perf_counter()
                print(f"| {label} | {' / '.join(f'{s[k]:.1f}' for k in KS)} | "
                      f"{' / '.join(f'{r[k]:.1f}' for k in KS)} | "
                      f"{1000 * (t1 - t0) / len(group):.1f}, "
                      f"{1000 * (t2 - t1) / len(group):.1f} |")
        store.close()


if __name__ == "__main__":
    main()
