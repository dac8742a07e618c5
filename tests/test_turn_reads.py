"""What a turn reads before its request: beside the last turn's commit, and from memory
while nothing can have changed it, and right whenever something did.

Issue 16: at 100k messages a turn spent ~20 ms waiting for the last turn's commit and
~10 ms re-reading memories and the summary (bench/bench_search_scale.py). These tests
hold the parts that removed that to what must stay true: the reads see every change
(this process's, another process's), never another user's rows, and the ranking is the
same as before to the last digit.
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading

import pytest

from jupyter_agentmem.store import open_store
from jupyter_agentmem.store.sql import bm25
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary


def _run(session: str, user: str, reply: str) -> Run:
    return Run(session_id=session, messages=[Message(role="user", content=user),
                                             Message(role="assistant", content=reply)])


def _memory(text: str, *topics: str) -> Memory:
    return Memory(user_id="ana", memory=text, topics=list(topics))


def test_the_prompts_reads_go_beside_a_commit_in_progress(tmp_path):
    # The thread that commits the last turn's run holds the engine's mutex for ~10 ms:
    # the next turn's search, recall, memory and summary reads do not wait for it.
    store = open_store(str(tmp_path / "a.duckdb")).as_user("ana")
    store.append_run(_run("s", "my sister plays the cello", "Lovely: which pieces?"))
    store.add_memory(_memory("Ana's sister plays the cello", "family"))
    store.add_summary(SessionSummary(session_id="s", summary="About the sister", through_run_seq=0))
    assert store.search_ids("cello", "exchanges", 5)  # the index loaded (its snapshot rows)
    store.add_memory(_memory("Ana drinks tea"))  # a commit: the next search checks SQL
    store.engine.row_cache.clear()  # the memories and the summary are read from SQL too
    engine = store.engine
    held, reads_done, released_by = threading.Event(), threading.Event(), []

    def committing_thread() -> None:
        with engine.mutex:
            held.set()
            released_by.append("reads done" if reads_done.wait(30) else "timed out")

    holder = threading.Thread(target=committing_thread)
    holder.start()
    held.wait(10)
    try:
        hits = store.search_ids("cello", "exchanges", 5)
        runs = store.user_runs([run_id for run_id, _ in hits])
        memories = store.memories_by_relevance([], 5, 30)
        summary = store.latest_summary("s")
    finally:
        reads_done.set()
        holder.join()
    assert released_by == ["reads done"]  # every read above ran while the mutex was held
    assert [m.content for r in runs for m in r.messages][0] == "my sister plays the cello"
    assert sorted(m.memory for m in memories) == ["Ana drinks tea", "Ana's sister plays the cello"]
    assert summary is not None and summary.summary == "About the sister"


@pytest.fixture(params=["duckdb", "sqlite"])
def cached_store(request, tmp_path):
    location = (str(tmp_path / "a.duckdb") if request.param == "duckdb"
                else "sqlite://" + str(tmp_path / "a.sqlite"))
    store = open_store(location).as_user("ana")
    store.append_run(_run("s", "hello", "hi"))  # the session is known to be ana's
    yield location, store
    store.close()


def _prompt_memories(store) -> dict[str, list[str]]:
    return {m.memory: m.topics for m in store.memories_by_relevance([], 5, 30)}


def test_cached_memories_follow_every_change_of_this_process(cached_store):
    _, store = cached_store
    kept = store.add_memory(_memory("Ana likes tea", "drinks"))
    assert _prompt_memories(store) == {"Ana likes tea": ["drinks"]}
    assert _prompt_memories(store) == {"Ana likes tea": ["drinks"]}  # (from the cache)
    store.update_memory(kept.memory_id, None, ["drinks", "mornings"], "user")  # topics only
    assert _prompt_memories(store) == {"Ana likes tea": ["drinks", "mornings"]}
    store.update_memory(kept.memory_id, "Ana likes green tea", None, "user")
    assert list(_prompt_memories(store)) == ["Ana likes green tea"]
    store.delete_memory(kept.memory_id, "user")
    assert _prompt_memories(store) == {}
    store.restore_memory(kept.memory_id, "user")
    assert list(_prompt_memories(store)) == ["Ana likes green tea"]
    store.append_run(_run("s", "more", "sure"))  # a run appended keeps the cache...
    store.add_memory(_memory("Ana has a cat"))  # ...a memory added does not
    assert sorted(_prompt_memories(store)) == ["Ana has a cat", "Ana likes green tea"]


ADD_IN_ANOTHER_PROCESS = """
import sys
from jupyter_agentmem.store import open_store
from jupyter_agentmem.types import Memory
store = open_store(sys.argv[1]).as_user("ana")
store.add_memory(Memory(user_id="ana", memory="Ana moved to Lyon"))
store.add_summary(__import__("jupyter_agentmem.types", fromlist=["x"]).SessionSummary(
    session_id="s", summary="written elsewhere", through_run_seq=0))
store.close()
"""


def test_cached_rows_follow_another_process(cached_store):
    location, store = cached_store
    store.add_memory(_memory("Ana likes tea"))
    store.add_summary(SessionSummary(session_id="s", summary="first", through_run_seq=0))
    assert list(_prompt_memories(store)) == ["Ana likes tea"]
    assert store.latest_summary("s").summary == "first"
    # (DuckDB: the other process gets the file once this one lets it go, ~1 s idle.)
    subprocess.run([sys.executable, "-c", ADD_IN_ANOTHER_PROCESS, location], check=True,
                   timeout=120)
    assert sorted(_prompt_memories(store)) == ["Ana likes tea", "Ana moved to Lyon"]
    assert store.latest_summary("s").summary == "written elsewhere"


def test_a_cached_summary_follows_edits_and_deletes(cached_store):
    _, store = cached_store
    store.add_summary(SessionSummary(session_id="s", summary="one", through_run_seq=0))
    store.add_summary(SessionSummary(session_id="s", summary="two", through_run_seq=0))
    assert store.latest_summary("s").summary == "two"
    store.edit_summary("s", 2, "two, edited", None, "user")
    assert store.latest_summary("s").summary == "two, edited"
    store.delete_summary("s", 2, "user")
    assert store.latest_summary("s").summary == "one"
    returned = store.latest_summary("s")
    returned.summary = "changed by the caller"  # the cache hands out copies
    assert store.latest_summary("s").summary == "one"


def test_a_cached_summary_is_never_another_users(cached_store):
    _, ana = cached_store
    ana.add_summary(SessionSummary(session_id="s", summary="ana's summary", through_run_seq=0))
    assert ana.latest_summary("s").summary == "ana's summary"  # kept for ana
    bob = ana.as_user("bob")
    assert bob.latest_summary("s") is None
    assert ana.latest_summary("s").summary == "ana's summary"
    bob_memories = bob.memories_by_relevance([], 5, 30)
    assert bob_memories == []


# --- the ranking ----------------------------------------------------------------------
def _partition(n_docs: int, seed: int) -> bm25.Partition:
    rng = random.Random(seed)
    common = ["think", "time", "good", "really"]  # in most docs: added as dense vectors
    rare = [f"w{i}" for i in range(300)]
    built = bm25.Partition(bm25.Base.empty(), 0)
    for d in range(n_docs):
        words = [w for w in common if rng.random() < 0.7]
        built.upsert(f"d{d}", "s", words + rng.choices(rare, k=rng.randint(1, 12)))
    return bm25.Partition(built.compacted(), 0)  # as a base: postings by term


def test_common_words_as_dense_vectors_rank_exactly_as_their_postings():
    partition = _partition(3000, 16)
    rng = random.Random(17)
    queries = [["think", "time"] + rng.sample([f"w{i}" for i in range(300)], 3)
               for _ in range(40)]
    partition.dense_share = None
    by_postings = [partition.top(q, 20) for q in queries]
    partition.dense_share = 0.1
    by_vectors = [partition.top(q, 20) for q in queries]
    assert by_vectors == by_postings  # the same docs, the same scores, bit for bit
    assert partition._dense  # (and the vectors were used)


@pytest.mark.parametrize("k", [1, 5, 20, 500, 5000])
def test_the_k_best_are_those_of_a_full_sort_ties_in_doc_order(k):
    partition = _partition(2000, 3)
    for query in (["think"], ["w1"], ["think", "time", "good", "really"], ["w1", "w2", "think"]):
        found = partition.top(query, k)
        scores = {}
        for doc_id, score in partition.top(query, 10_000):
            scores[doc_id] = score
        expected = sorted(scores.items(), key=lambda kv: (-kv[1], int(kv[0][1:])))[:k]
        assert found == expected


def test_sessions_known_to_be_a_users_are_never_anothers_and_go_with_the_session(cached_store):
    _, ana = cached_store
    ana.append_run(_run("t", "the cello again", "yes"))
    run_ids = [run_id for run_id, _ in ana.search_ids("cello", "exchanges", 5)]
    assert [r.session_id for r in ana.user_runs(run_ids)] == ["t"]
    assert [r.session_id for r in ana.user_runs(run_ids)] == ["t"]  # (owner known now)
    assert ana.as_user("bob").user_runs(run_ids) == []
    ana.delete_session("t")
    assert ana.user_runs(run_ids) == []


def test_runs_from_the_run_cache_are_the_callers_to_change(cached_store):
    _, store = cached_store
    for i in range(40):  # more than the 16 it kept: a token budget asks for 64
        store.append_run(_run("s", f"message {i}", f"reply {i}"))
    first = store.recent_runs("s", 64)
    assert len(first) == 41 and first[-1].messages[0].content == "message 39"
    first[-1].messages[0].content = "changed by the caller"
    first[-1].messages.append(Message(role="user", content="appended by the caller"))
    again = store.recent_runs("s", 64)
    assert [m.content for m in again[-1].messages] == ["message 39", "reply 39"]


def test_a_run_committed_while_a_search_holds_the_index_is_learnt_without_sql(tmp_path,
                                                                               monkeypatch):
    # The thread committing queued runs gives their texts to the index once it has let
    # the connection go, waiting for a search in progress rather than skipping them.
    from jupyter_agentmem.store.sql.search_index import SearchIndexes

    store = open_store(str(tmp_path / "a.duckdb")).as_user("ana")
    store.append_run(_run("s", "hello there", "hi"))
    store.stage_run(queued := _run("s", "my parrot is called Mango", "A parrot!"))
    assert store.search_ids("hello", "exchanges", 5)  # the index is loaded and current
    catch_ups, learnt = [], threading.Event()
    real_catch_up, real_learn = SearchIndexes._catch_up, SearchIndexes._learn
    monkeypatch.setattr(SearchIndexes, "_catch_up",
                        lambda self, *a: (catch_ups.append(a[2]), real_catch_up(self, *a))[1])
    monkeypatch.setattr(SearchIndexes, "_learn",
                        lambda self, *a: (real_learn(self, *a), learnt.set())[0])
    indexes = store.search_index()
    with indexes._lock:  # a search in progress
        store.append_run(queued)  # queued: the engine's thread commits it meanwhile
        deferred = store.engine.deferred
        for _ in range(500):
            if not deferred.pending and not deferred.writing:
                break
            threading.Event().wait(0.01)
        assert not learnt.is_set()  # (it waits for the search)
    assert learnt.wait(10)  # given to the index once the search let go, not skipped
    assert [r for r, _ in store.search_ids("parrot Mango", "exchanges", 5)] == [queued.run_id]
    assert catch_ups == []
