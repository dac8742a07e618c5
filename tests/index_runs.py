"""Runs added and found again, for the tests of the search index's numbered appends."""

from __future__ import annotations

from jupyter_agentmem.types import Memory, Message, Run


def a_run(session: str, text: str, reply: str = "ok") -> Run:
    return Run(session_id=session, messages=[Message(role="user", content=text),
                                             Message(role="assistant", content=reply)])


def add_run(store, session: str, text: str, reply: str = "ok", user: str = "ana") -> Run:
    run = a_run(session, text, reply)
    store.as_user(user).append_run(run)
    return run


def add_memory(store, text: str, user: str = "ana") -> Memory:
    return store.as_user(user).add_memory(Memory(user_id=user, memory=text))


def ranked_exchanges(store, query: str, user: str = "ana") -> list[str]:
    """The run ids recall would rank for ``query``, best first."""
    return [r for r, _ in store.as_user(user).search_ids(query, "exchanges", 50)]


def exchanges(store, query: str, user: str = "ana") -> set[str]:
    return set(ranked_exchanges(store, query, user))


def memories(store, query: str, user: str = "ana") -> set[str]:
    return {r for r, _ in store.as_user(user).search_ids(query, "memories", 50)}


def message_hits(store, query: str, user: str = "ana") -> set[str]:
    return {h["id"] for h in store.as_user(user).search(query, kinds=("messages",), limit=50)}


def number_of(store, run: Run) -> int:
    """The run's number in the order of appends (``runs.search_seq``)."""
    with store.engine.connection() as con:
        return con.execute("SELECT search_seq FROM runs WHERE run_id = ?",
                           [run.run_id]).fetchone()[0]
