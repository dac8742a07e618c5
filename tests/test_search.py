"""Search: a term index kept with every write, ranked by BM25, scoped to a user, every backend."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from traitlets import TraitError

from jupyter_agentmem import search
from jupyter_agentmem.store import open_store
from jupyter_agentmem.types import Memory, Message, Run, SessionSummary


def add_run(store, session: str, user: str, text: str, reply: str = "ok") -> Run:
    run = Run(session_id=session, messages=[Message(role="user", content=text),
                                            Message(role="assistant", content=reply)])
    store.as_user(user).append_run(run)
    return run


@pytest.fixture
def filled(any_store_location):
    store = open_store(any_store_location)
    for i in range(30):
        add_run(store, "ana-1", "ana", f"note {i} about the weather and the garden")
    planted = add_run(store, "ana-2", "ana", "my cat Mistigri sleeps on the violet piano")
    for i in range(10):
        add_run(store, "bob-1", "bob", f"bob's note {i}: the violet piano of bob is Mistigri's")
    store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana plays the violet piano",
                                           topics=[]))
    store.as_user("bob").add_memory(Memory(user_id="bob", memory="Bob owns a violet piano too",
                                           topics=[]))
    store.as_user("bob").add_summary(SessionSummary(session_id="bob-1",
                                                    summary="Bob talks of his violet piano"))
    store.as_user("ana").add_summary(SessionSummary(session_id="ana-2",
                                                    summary="Ana's cat and her piano"))
    return store, planted


def test_the_planted_message_comes_first(filled):
    store, planted = filled
    hits = store.as_user("ana").search("violet piano Mistigri")
    assert hits[0]["id"] == planted.messages[0].message_id
    assert hits[0]["kind"] == "messages" and hits[0]["session_id"] == "ana-2"
    assert "Mistigri" in hits[0]["snippet"] and hits[0]["run_seq"] == 0


def test_a_users_search_never_returns_another_users_rows(filled):
    store, _ = filled
    for query in ("violet piano", "bob", "Mistigri", "note weather"):
        hits = store.as_user("ana").search(query, limit=200)
        assert {h["user_id"] for h in hits} <= {"ana"}
        assert not any("bob" in h["snippet"].lower() for h in hits)
    bobs = store.as_user("bob").search("violet piano", limit=200)
    assert bobs and {h["user_id"] for h in bobs} == {"bob"}
    assert {h["kind"] for h in bobs} == {"messages", "memories", "summaries"}


def test_rare_terms_outrank_common_ones(filled):
    store, planted = filled
    # "the" is in almost every message; "mistigri" in one of ana's.
    hits = store.as_user("ana").search("the Mistigri", kinds=["messages"])
    assert hits[0]["id"] == planted.messages[0].message_id


def test_edits_deletes_and_restores_keep_the_index_current(filled):
    store, planted = filled
    message_id = planted.messages[0].message_id
    store = store.as_user("ana")
    store.edit_message(message_id, "my dog Rex sleeps on the sofa", actor="user")
    assert store.as_user("ana").search("Mistigri") == [] or all(
        h["id"] != message_id for h in store.as_user("ana").search("Mistigri"))
    assert store.as_user("ana").search("Rex sofa")[0]["id"] == message_id
    store.delete_message(message_id, actor="user")
    assert all(h["id"] != message_id for h in store.as_user("ana").search("Rex sofa"))
    store.restore_message(message_id, actor="user")
    assert store.as_user("ana").search("Rex sofa")[0]["id"] == message_id
    memory = store.as_user("ana").add_memory(Memory(user_id="ana", memory="Ana collects stamps",
                                                    topics=[]))
    store.as_user("ana").update_memory(memory.memory_id, "Ana collects coins", None, actor="user")
    assert [h["id"] for h in store.as_user("ana").search("coins")] == [memory.memory_id]
    assert store.as_user("ana").search("stamps") == []


def test_imported_rows_are_searchable(filled, tmp_path):
    store, planted = filled
    target = open_store(str(tmp_path / "copy.duckdb"))
    target.as_user("ana").import_rows(store.as_user("ana").export_rows())
    assert target.as_user("ana").search("Mistigri violet")[0]["id"] == \
        planted.messages[0].message_id
    assert target.as_user("bob").search("violet") == []


def test_an_older_database_is_indexed_by_its_migration(tmp_path):
    import duckdb

    from jupyter_agentmem.store.duckdb.dialect import DUCKDB
    from jupyter_agentmem.store.sql import migrations

    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    migrations.migrate(con, DUCKDB, upto=2)
    con.execute("INSERT INTO sessions VALUES ('s', 'ana', NULL, NULL, now(), now())")
    con.execute("INSERT INTO runs (run_id, session_id, seq, status, created_at) "
                "VALUES ('r', 's', 0, 'ok', now())")
    con.execute("INSERT INTO messages (message_id, session_id, run_id, seq, role, content, "
                "created_at) VALUES ('m', 's', 'r', 0, 'user', 'an ancient zeppelin', now())")
    con.close()
    assert [h["id"] for h in open_store(path).as_user("ana").search("zeppelin")] == ["m"]


def test_bad_searches_are_clear_errors(filled):
    from jupyter_agentmem.store import StoreError

    store, _ = filled
    with pytest.raises(StoreError, match="cannot search in"):
        store.search("x", kinds=["tables"])
    with pytest.raises(StoreError, match="limit"):
        store.search("x", limit=0)
    assert store.as_user("ana").search("") == [] and store.as_user("ana").search("!!!") == []
    # SQL-looking text is only words to look for.
    assert store.as_user("ana").search("'; DROP TABLE messages; --") == []
    assert store.table_rows("messages")


def test_search_in_the_notebook_and_history_at_a_hit(shell, server, db_path):
    shell.run_cell_magic("agent", "session=s1 user=ana", "I planted tulips in March")
    shell.run_cell_magic("agent", "session=s2 user=ana", "Something else entirely")
    shell.run_cell_magic("agent", "session=s3 user=bob", "Bob planted tulips too")
    hits = shell.run_line_magic("agent", 'search "planted tulips" user=ana')
    assert list(hits["session_id"])[:1] == ["s1"] and set(hits["user_id"]) == {"ana"}
    top = hits.iloc[0]
    around = shell.run_line_magic("agent", f"history at={top['id']} user=ana")
    assert "I planted tulips in March" in list(around["content"])
    assert list(shell.run_line_magic("agent", "search tulips user=ana in=memories")["id"]) == []
    frame = search("tulips", user_id="bob", store=db_path)
    assert list(frame["session_id"].unique()) == ["s3"]
    with pytest.raises(UsageError, match="search needs words|needs query"):
        shell.run_line_magic("agent", "search user=ana")
    with pytest.raises(UsageError, match="in='tables' is not valid"):
        shell.run_line_magic("agent", "search tulips in=tables")
    with pytest.raises(UsageError, match="No message"):
        shell.run_line_magic("agent", "history at=nope")


def test_a_deleted_session_leaves_the_index(filled):
    """Its messages and summary versions are no longer found (they were, after
    delete_session); the memories it gave rise to are the user's and stay."""
    store, planted = filled
    memory = store.as_user("ana").add_memory(Memory(user_id="ana", memory="Mistigri is Ana's cat",
                                     topics=[], session_id="ana-2"))
    assert store.as_user("ana").delete_session("ana-2")
    hits = store.as_user("ana").search("Mistigri violet piano cat", limit=200)
    assert [h["id"] for h in hits if h["session_id"] == "ana-2"] == [memory.memory_id]
    assert store.as_user("ana").search("Mistigri sleeps", kinds=["messages"]) == []
    assert store.as_user("ana").search("Ana's cat and her piano", kinds=["summaries"]) == []
    with store.engine.connection() as con:
        assert con.execute("SELECT kind FROM search_docs WHERE session_id = 'ana-2'"
                           ).fetchall() == [("memories",)]
    assert store.as_user("bob").search("violet piano")  # another session: untouched


def test_the_search_language_is_a_notebook_setting(shell, server, db_path):
    shell.run_cell_magic("agent", "session=s1 user=ana", "I donate blood every spring")
    found = shell.run_line_magic("agent", "search donated user=ana")
    assert "I donate blood every spring" in " ".join(found["snippet"])  # english stems
    shell.run_line_magic("config", "AgentMagics.search_language = 'none'")
    assert len(shell.run_line_magic("agent", "search donated user=ana")) == 0  # as written
    assert len(shell.run_line_magic("agent", "search donate user=ana")) > 0
    shell.run_line_magic("config", "AgentMagics.search_language = ''")  # back to english
    assert len(shell.run_line_magic("agent", "search donated user=ana")) > 0
    with pytest.raises(TraitError, match="no stemmer for the search language 'klingon'"):
        shell.magics_manager.registry["AgentMagics"].search_language = "klingon"
    assert shell.magics_manager.registry["AgentMagics"].search_language == ""
