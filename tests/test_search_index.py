"""The in-memory search index (issue 16): right (stems, stopwords, per-user statistics,
exchanges as one text, short replies, phrases), current (other processes, restarts,
deletes), the same on DuckDB, SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from jupyter_agentmem import runtime
from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.store.sql import bm25, search_index
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary


def add_run(store, session: str, user: str, text: str, reply: str = "ok") -> Run:
    run = Run(session_id=session, messages=[Message(role="user", content=text),
                                            Message(role="assistant", content=reply)])
    store.as_user(user).append_run(run)
    return run


def ids(hits) -> list[str]:
    return [h["id"] for h in hits]


def test_inflections_meet_and_stopwords_do_not_match(any_store_location):
    store = open_store(any_store_location)
    donated = add_run(store, "s", "ana", "I donate blood every spring")
    interview = add_run(store, "s", "ana", "Three interviews this week, all remote")
    weather = add_run(store, "s", "ana", "the weather is what it is")
    will = add_run(store, "s", "ana", "I met Will at the station")
    add_run(store, "s", "ana", "it will rain, and then it will stop")
    assert ids(store.as_user("ana").search("donated"))[:1] == [donated.messages[0].message_id]
    assert ids(store.as_user("ana").search("my interview"))[:1] == [
        interview.messages[0].message_id]
    # A word typed exactly finds its message: the same stem on both sides.
    assert ids(store.as_user("ana").search("interviews"))[:1] == [
        interview.messages[0].message_id]
    # Stopwords are not looked for beside other words, nor ever in recall ...
    assert ids(store.as_user("ana").search("the donated")) == [donated.messages[0].message_id]
    assert store.as_user("ana").search_ids("what it is", "exchanges", 5) == []
    # ... but a search of messages finds them where meant: alone, quoted, or a name.
    assert ids(store.as_user("ana").search("what it is"))[:1] == [
        weather.messages[0].message_id]
    assert will.messages[0].message_id in ids(store.as_user("ana").search("Where is Will?"))
    assert ids(store.as_user("ana").search('"met Will at the"'))[:1] == [
        will.messages[0].message_id]
    # The language off (documented): every word as written, no stems.
    store.set_search_language(None)
    assert ids(store.as_user("ana").search("what it is"))[:1] == [
        weather.messages[0].message_id]
    assert store.as_user("ana").search_ids("what it is", "exchanges", 5)  # every word indexed
    assert store.as_user("ana").search("donated") == []
    with pytest.raises(StoreError, match="no stemmer for the search language 'klingon'"):
        store.set_search_language("klingon")


def test_statistics_are_the_users_own(any_store_location):
    store = open_store(any_store_location)
    zebra = add_run(store, "a", "ana", "a zebra at the zoo")
    koala = add_run(store, "a", "ana", "a koala at the zoo")
    for i in range(5):
        add_run(store, "a", "ana", f"koala fact number {i}")
    for i in range(40):  # bob says zebra all the time: his statistics, not ana's
        add_run(store, "b", "bob", f"zebra zebra stripes {i}")
    # For ana "zebra" is the rarer word: its message comes first, whatever bob wrote.
    hits = store.as_user("ana").search("zebra koala zoo", kinds=["messages"])
    assert ids(hits)[:2] == [zebra.messages[0].message_id, koala.messages[0].message_id]
    assert {h["user_id"] for h in store.as_user("bob").search("zebra", limit=100)} == {"bob"}


def test_recall_ranks_an_exchange_as_one_text(any_store_location):
    store = open_store(any_store_location)
    answered = add_run(store, "s", "ana", "What is the capital of Portugal?",
                       "Lisbon, on the Tagus.")
    other = add_run(store, "s", "ana", "Capital gains tax in Portugal, how much?",
                    "It depends on the year.")
    # Best single message: a tie on "capital portugal"; as one text the first exchange
    # also holds "lisbon".
    assert [r for r, _ in store.as_user("ana").search_ids("capital of Portugal, Lisbon",
                                                          "exchanges", 5)] == [answered.run_id,
                                                                               other.run_id]
    assert store.as_user("bob").search_ids("lisbon", "exchanges", 5) == []


def test_a_short_reply_that_repeats_a_name_does_not_crowd_out_the_answer():
    def ranked(floor: float) -> list[tuple[str, float]]:
        part = bm25.Partition(bm25.Base.empty(), 0, floor=floor)
        filler = ["talk", "weather", "today", "nice", "sun", "walk", "park", "lunch"]
        for i in range(40):
            part.upsert(f"f{i}", "s", filler[:5 + i % 4] + (["jon"] if i % 4 == 0 else []))
        part.upsert("cheer", "s", ["go", "get", "em", "jon"])
        part.upsert("answer", "s", ["jon", "said", "adopt", "puppi", "name", "biscuit",
                                    "last", "week", "shelter", "near", "park", "jon"])
        return part.top(["jon"], 20)

    assert [d for d, _ in ranked(0.0)[:2]] == ["cheer", "answer"]  # plain BM25: cheer wins
    floored = dict(ranked(bm25.LENGTH_FLOOR))
    assert max(floored, key=floored.get) == "answer"
    assert floored["cheer"] == pytest.approx(floored["f0"])  # short: no boost over others


def test_a_quoted_phrase_comes_first(any_store_location):
    store = open_store(any_store_location)
    loose = add_run(store, "s", "ana", "tulips: I planted some, and roses were planted")
    exact = add_run(store, "s", "ana", "Yesterday we Planted   Tulips by the door")
    assert ids(store.as_user("ana").search('"planted tulips"'))[:2] == [
        exact.messages[0].message_id, loose.messages[0].message_id]


def test_memories_and_summaries_are_partitions_of_their_own(any_store_location):
    store = open_store(any_store_location)
    add_run(store, "s", "ana", "oboe oboe oboe, I love the oboe")
    memory = store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana plays the oboe",
                                                    topics=[]))
    store.as_user("ana").add_summary(SessionSummary(session_id="s", summary="Ana and her oboe"))
    assert store.as_user("ana").search_ids("oboe", "memories", 5) == [
        (memory.memory_id, pytest.approx(store.as_user("ana").search_ids("oboe", "memories",
                                                                         5)[0][1]))]
    assert [i for i, _ in store.as_user("ana").search_ids("oboe", "summaries", 5)] == ["s#1"]
    store.as_user("ana").delete_memory(memory.memory_id, actor="user")
    assert store.as_user("ana").search_ids("oboe", "memories", 5) == []
    store.as_user("ana").restore_memory(memory.memory_id, actor="user")
    assert len(store.as_user("ana").search_ids("oboe", "memories", 5)) == 1
    store.as_user("ana").edit_summary("s", 1, "Ana and her bassoon", None, actor="user")
    assert store.as_user("ana").search_ids("oboe", "summaries", 5) == []
    assert [i for i, _ in store.as_user("ana").search_ids("bassoon", "summaries", 5)] == ["s#1"]


def test_a_deleted_session_leaves_the_index(any_store_location):
    store = open_store(any_store_location)
    gone = add_run(store, "gone", "ana", "the marmalade recipe", "with oranges")
    kept = add_run(store, "kept", "ana", "marmalade on toast")
    store.as_user("ana").add_summary(SessionSummary(session_id="gone", summary="marmalade talk"))
    assert store.as_user("ana").search_ids("marmalade", "exchanges", 5)
    store.as_user("ana").delete_session("gone")
    assert ids(store.as_user("ana").search("marmalade")) == [kept.messages[0].message_id]
    assert [r for r, _ in store.as_user("ana").search_ids("marmalade", "exchanges", 5)] == [
        kept.run_id]
    assert gone.run_id not in [r for r, _ in store.as_user("ana").search_ids("orange", "exchanges",
                                                                             5)]


WRITER = textwrap.dedent("""
    import sys
    from jupyter_agentmem.store import open_store
    from jupyter_agentmem.types import Memory, Message, Run
    store = open_store(sys.argv[1]).as_user("ana")
    run = Run(session_id="other", messages=[Message(role="user", content=sys.argv[2]),
                                            Message(role="assistant", content="noted")])
    store.append_run(run)
    store.add_memory(Memory(user_id="ana", memory=sys.argv[2], topics=[]))
    store.close()
    print(run.run_id)
""")


def test_another_process_writes_are_found(any_store_location):
    # Another kernel (on another machine, for PostgreSQL) writes to the shared tables:
    # this process's index catches up at its next search.
    store = open_store(any_store_location)
    add_run(store, "s", "ana", "a first message about kites")
    assert [h["kind"] for h in store.as_user("ana").search("kites")] == ["messages"]
    if any_store_location.endswith(".duckdb"):
        store.close()  # one DuckDB writer at a time: the other process takes the file
    run_id = subprocess.run([sys.executable, "-c", WRITER, any_store_location,
                             "kites and a yellow zeppelin"], capture_output=True, text=True,
                            check=True).stdout.split()[-1]
    assert {h["kind"] for h in store.as_user("ana").search("zeppelin")} == {
        "messages", "memories"}
    assert [r for r, _ in store.as_user("ana").search_ids("zeppelin", "exchanges", 5)] == [run_id]


def test_a_restart_loads_the_snapshot_and_catches_up(any_store_location, monkeypatch):
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 10)
    store = open_store(any_store_location)
    for i in range(12):
        add_run(store, f"s{i % 3}", "ana", f"note {i} on the harbour lighthouse", f"reply {i}")
    before = store.as_user("ana").search_ids("harbour lighthouse", "exchanges", 20)
    store.as_user("ana").search_ids("x", "memories", 1)
    with store.engine.connection() as con:
        parts = set(store.search_index().snapshots.parts(con, "ana"))
    assert parts == {"messages", "exchanges"}  # no memories: under the size of a snapshot
    late = add_run(store, "s0", "ana", "a late lighthouse keeper")  # after the snapshot
    store.close()
    # A new process: the snapshot is loaded, never rebuilt from every text.
    store.engine.search_indexes = None
    monkeypatch.setattr(search_index.SearchIndexes, "_build", lambda *a: pytest.fail(
        "rebuilt from SQL"))
    again = open_store(any_store_location)
    again.engine.search_indexes = None
    after = again.as_user("ana").search_ids("harbour lighthouse", "exchanges", 20)
    assert [r for r, _ in after if r != late.run_id] == [r for r, _ in before]
    assert late.run_id in [r for r, _ in after]


def test_a_snapshot_of_another_analyzer_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 5)
    path = str(tmp_path / "a.duckdb")
    store = open_store(path)
    for i in range(6):
        add_run(store, "s", "ana", f"running shoes {i}")
    assert len(store.as_user("ana").search_ids("runs", "messages", 10)) == 6  # stemmed: run
    monkeypatch.setenv("AGENTMEM_SEARCH_LANGUAGE", "none")
    store.engine.search_indexes = None
    assert store.as_user("ana").search_ids("runs", "messages", 10) == []  # rebuilt: plain words
    assert len(store.as_user("ana").search_ids("running", "messages", 10)) == 6


def test_a_compacted_snapshot_drops_dead_texts_and_ranks_as_if_built_fresh():
    docs = {f"d{i}": (f"s{i % 3}", ["kite", "wind"][: 1 + i % 2] + [f"w{i}"] * (i % 3))
            for i in range(30)}
    part = bm25.Partition(bm25.Base.empty(), 0)
    for doc_id, (session, terms) in docs.items():
        part.upsert(doc_id, session, terms)
    part.upsert("secret", "s0", ["kite", "qzxvsecret"])
    part = bm25.Partition(part.compacted(), 5)  # a base, then changes after it
    part.upsert("late", "s1", ["kite", "late"])
    part.remove("d3")
    part.remove("secret")
    part.upsert("d4", "s1", ["wind", "late"])  # edited
    again = bm25.Partition(bm25.Base.from_bytes(part.compacted().to_bytes({}))[0], 5)
    assert "qzxvsecret" in part.base.vocab and "qzxvsecret" not in again.base.vocab
    fresh = bm25.Partition(bm25.Base.empty(), 0)
    live = {**docs, "late": ("s1", ["kite", "late"]), "d4": ("s1", ["wind", "late"])}
    del live["d3"]
    for doc_id, (session, terms) in live.items():
        fresh.upsert(doc_id, session, terms)
    query = ["kite", "wind", "late"]
    assert [d for d, _ in again.top(query, 40)] == [d for d, _ in fresh.top(query, 40)]
    assert [s for _, s in again.top(query, 40)] == pytest.approx(
        [s for _, s in fresh.top(query, 40)], rel=1e-5)
    assert {d for d, _ in again.top(query, 40, session_id="s1")} == {
        d for d, (s, _) in live.items() if s == "s1"}


def test_a_snapshot_left_by_another_database_of_that_name_is_not_used(tmp_path, monkeypatch):
    import shutil

    monkeypatch.setattr(search_index, "SNAPSHOT_MIN_DOCS", 5)
    path = str(tmp_path / "a.duckdb")
    old = open_store(path)
    for i in range(6):
        add_run(old, "s", "ana", f"an old kite {i}")
    assert len(old.as_user("ana").search_ids("kite", "messages", 10)) == 6
    old.close()
    for name in ("a.duckdb", "a.duckdb.wal"):  # the database goes, its .search stays
        (tmp_path / name).unlink(missing_ok=True)
    shutil.rmtree(tmp_path / "a.duckdb.inflight", ignore_errors=True)
    runtime.reset()  # a new process
    new = open_store(path)
    for i in range(40):  # past the old snapshot's revision
        add_run(new, "s", "ana", f"a new message {i}")
    new.engine.search_indexes = None  # a restart
    assert new.as_user("ana").search_ids("kite", "messages", 10) == []
    assert len(new.as_user("ana").search_ids("new message", "messages", 50)) == 40
