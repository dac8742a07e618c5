"""Values no backend stores the same way (lone surrogates, NUL bytes, huge numbers) are one
clean ``StoreError`` on every backend, before anything is written; property tests of the
store API with arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from jupyter_agentmem.store import StoreError, open_store
from jupyter_agentmem.types import Memory, Message, Run

TABLES = ("sessions", "runs", "messages", "memories", "summaries", "memory_events")
BAD_TEXTS = ["\ud800", "a\udfffb", "nul\x00byte", "\x00"]


def counts(store) -> dict[str, int]:
    return {t: len(store.table_rows(t)) for t in TABLES}


def a_run(session_id: str = "s", content: str = "hello") -> Run:
    return Run(session_id=session_id, messages=[Message(role="user", content=content),
                                                 Message(role="assistant", content="hi")])


@pytest.mark.parametrize("bad", BAD_TEXTS, ids=repr)
def test_bad_text_is_refused_the_same_on_every_backend(any_store_location, bad):
    store = open_store(any_store_location)
    store.append_run(a_run())
    memory = store.as_user("ana").add_memory(Memory(user_id="ana",
                                                    memory="The user's name is Ana."))
    (message_id, _) = [m["message_id"] for m in store.message_rows("s")]
    before = counts(store)
    attempts = [
        lambda: store.append_run(a_run(session_id=bad)),
        lambda: store.append_run(a_run(content=bad)),
        lambda: store.as_user(bad).append_run(a_run()),
        lambda: store.as_user("ana").add_memory(Memory(user_id="ana", memory=bad)),
        lambda: store.as_user(bad).add_memory(Memory(user_id=bad, memory="x")),
        lambda: store.as_user("ana").add_memory(Memory(user_id="ana", memory="x", topics=[bad])),
        lambda: store.as_user("ana").update_memory(memory.memory_id, "x " + bad, None, "user"),
        lambda: store.edit_message(message_id, "x " + bad),
        lambda: store.message_rows(bad),
        lambda: store.as_user(bad).user_memories(),
        lambda: store.recent_runs(bad, 3),
        lambda: store.get_session(bad),
    ]
    for attempt in attempts:
        with pytest.raises(StoreError, match="NUL byte|lone surrogate"):
            attempt()
    assert counts(store) == before  # nothing partly written
    assert store.as_user("ana").get_memory(memory.memory_id).memory == "The user's name is Ana."
    assert store.message_rows("s")[0]["content"] == "hello"


def test_ids_longer_than_every_backend_indexes_are_refused(any_store_location):
    store = open_store(any_store_location)
    with pytest.raises(StoreError, match="at most 256"):
        store.append_run(a_run(session_id="x" * 10_000))
    with pytest.raises(StoreError, match="at most 256"):
        store.as_user("u" * 257).add_memory(Memory(user_id="u" * 257, memory="x"))
    assert counts(store) == dict.fromkeys(TABLES, 0)


@pytest.mark.parametrize("n", [2**63, 2**64, 10**30, 1e30, 2**31])
def test_huge_counts_are_capped_not_sent_to_sql(any_store_location, n):
    store = open_store(any_store_location)
    store.append_run(a_run())
    assert [r.message.content for r in store.recent_runs("s", n)] == ["hello"]
    assert len(store.message_rows("s", limit=n)) == 2
    assert store.message_rows("s", offset=n) == []


@pytest.mark.parametrize("n", [-1, float("inf"), float("nan"), "3", 1.5])
def test_a_count_that_is_not_one_is_a_store_error(any_store_location, n):
    store = open_store(any_store_location)
    with pytest.raises(StoreError, match="whole number"):
        store.recent_runs("s", n)


def test_token_counts_out_of_range_are_refused_by_the_store(any_store_location):
    store = open_store(any_store_location)
    run = a_run()
    run.input_tokens = 3_000_000_000  # unvalidated assignment, as the agent once did
    with pytest.raises(StoreError, match="input_tokens"):
        store.append_run(run)
    assert store.session_runs("s") == []


@pytest.mark.parametrize("line", [
    "history session=\ud800", "history session=a\x00b", "memories user=\ud800x",
    "summary session=\x00"], ids=repr)
def test_the_line_magics_say_bad_ids_as_a_usage_error(shell, line):
    with pytest.raises(UsageError, match="NUL byte|lone surrogate"):
        shell.run_line_magic("agent", line)


@pytest.mark.parametrize("history", [2**63, 10**30, 1e30])
def test_an_agent_with_a_huge_history_count_works(server, model, db_path, history):
    from jupyter_agentmem import Agent
    from jupyter_agentmem.storage import DuckDbAgentStorage

    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path), session_id="s",
                  add_history_to_messages=True, num_history_responses=history)
    agent.run("one")
    assert agent.run("two").status == "ok"
    assert [r.message.content for r in open_store(db_path).session_runs("s")] == ["one", "two"]


@pytest.mark.parametrize(("line", "cell"), [
    ("", "hello \ud800"), ("user=a\x00", "hello"), ("session=\udc80", "hello")], ids=repr)
def test_the_cell_magic_refuses_bad_text_before_calling_the_model(shell, server, db_path,
                                                                   line, cell):
    with pytest.raises(UsageError, match="NUL byte|lone surrogate"):
        shell.run_cell_magic("agent", line, cell)
    assert server.of("chat") == []
    assert open_store(db_path).list_sessions() == []


# --- property tests -------------------------------------------------------------
ANY_TEXT = st.one_of(
    st.text(st.characters(blacklist_categories=()), max_size=30),  # surrogates, NUL too
    st.sampled_from(["'; DROP TABLE runs; --", "?", "%s", "%(x)s", "\\x00", "NULL", "",
                     "' OR '1'='1", "$1", "é漢字🎉"]),
    st.just("x" * 1_000_000),
)


def _round_trip(store, session_id: str, user_id: str, content: str) -> None:
    before = counts(store)
    try:
        store.as_user(user_id).append_run(a_run(session_id, content))
    except StoreError:
        assert counts(store) == before  # a clean refusal writes nothing
        return
    mine = store.as_user(user_id)
    (run,) = [r for r in mine.session_runs(session_id) if r.message.content == content][-1:]
    assert [m.content for m in run.messages] == [content, "hi"]
    assert mine.get_session(session_id).user_id == user_id


PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
def test_any_text_round_trips_or_is_a_clean_store_error(backend, tmp_path, request):
    location = (str(tmp_path / "p.duckdb") if backend == "duckdb"
                else request.getfixturevalue("pg_url"))
    store = open_store(location)

    @PROPERTY
    @given(session_id=ANY_TEXT, content=ANY_TEXT, memory=ANY_TEXT, topic=ANY_TEXT)
    def check(session_id: str, content: str, memory: str, topic: str) -> None:
        _round_trip(store, "s-" + session_id[:200], "ana", content)
        before = counts(store)
        try:
            added = store.as_user("ana").add_memory(Memory(user_id="ana", memory=memory,
                                                           topics=[topic]))
        except StoreError:
            assert counts(store) == before
        else:
            found = store.as_user("ana").get_memory(added.memory_id)
            assert (found.memory, found.topics) == (memory, [topic])
        try:
            rows = store.as_user("ana").message_rows("s-" + session_id)
        except StoreError:
            return
        assert all(isinstance(r["content"], str) for r in rows)

    check()


@pytest.mark.parametrize("bad", [*BAD_TEXTS, 2**63, -(2**63) - 1, float("nan"), float("inf"),
                                 ["ok", "x\x00"]], ids=repr)
def test_a_bulk_write_refuses_what_one_statement_refuses(bad):
    # CheckedConnection.insert_rows checks a batch at once (values.check_rows): the same
    # values are refused, with the same message, wherever they are in the batch.
    from jupyter_agentmem.store.values import check_params, check_rows

    with pytest.raises(StoreError) as one:
        check_params([bad])
    rows = [("fine", 1, None, True, 2.5, ["a"])] * 50 + [("fine", 2, bad)]
    with pytest.raises(StoreError) as bulk:
        check_rows(rows)
    assert str(bulk.value) == str(one.value)
    check_rows(rows[:-1])  # and nothing else
