"""The memory work after a run, queued on the background worker: memories, then the summary.

The summary is kept current lazily: a run only queues a cheap check, and the model is
asked once runs have left the history window (all the runs since the last summary are
folded at once), or when someone reads the summary (``catch_up_summary``). On the
bench's 200-turn session (history=3) that is one summary call per 4 runs instead of
one per run (bench/RESULTS.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .. import changes
from ..model import ChatModel
from ..model.metered import MeteredModel
from ..store import Store
from ..types import Memory, ModelCall, Run
from .worker import Outcome, worker

log = logging.getLogger(__name__)  # debug_mode=True shows each memory and summary operation


@dataclass(frozen=True)
class MemoryWork:
    """What to do after one run, and where (built by ``AgentMemory`` from its flags)."""

    run: Run
    user_id: str
    model: ChatModel
    memory_store: Store
    session_store: Store
    extract_memories: bool
    classify: bool
    update_summary: bool
    memory_limit: int = 30
    on_outcome: Outcome | None = None
    summary_model: ChatModel | None = None  # the summarizer's own model; else ``model``
    # Runs the prompt carries whole (0: none): the summary only has to cover the runs
    # before them, so it is asked for when one of the runs it lacks leaves the window.
    history_window: int = 0
    # The memories the run's prompt carried (selected for its message): the memory
    # manager is shown those (no search, no read while the next turn waits for this job).
    selected: tuple[Memory, ...] | None = None


def user_key(user_id: str) -> tuple[str, str]:
    return ("user", user_id)


def session_key(session_id: str) -> tuple[str, str]:
    return ("session", session_id)


def usage_key(user_id: str) -> tuple[str, str]:
    return ("usage", user_id)


def summary_keys(work: MemoryWork) -> set[tuple[str, str]]:
    """A summary job's keys: its session's, and the user's ledger (``usage``): its model
    call's row is submitted only when that call returns, so %agent usage, waiting for
    the usage key, missed a summary call still under way (tests/test_review_turn_reads.py)."""
    return {session_key(work.run.session_id), usage_key(work.user_id)}


def queue_memory_work(work: MemoryWork) -> None:
    """Queue the memory and summary jobs ``work`` asks for."""
    if work.extract_memories:
        worker().submit({user_key(work.user_id)}, lambda: _memories_job(work),
                        "Updating user memories", work.on_outcome)
    if work.update_summary:
        if summary_surely_not_due(work):
            _defer_summary(work)  # what the job would do, without a job
        else:
            worker().submit(summary_keys(work), lambda: _summary_job(work),
                            "Updating the summary", work.on_outcome)


def summary_surely_not_due(work: MemoryWork) -> bool:
    """True when no run the summary lacks can have left the history window yet: at most
    ``history_window`` runs were numbered after the runs it covers (its latest version,
    kept in the row cache: no statement). Else the job checks exactly (two statements,
    ~4-6 ms on DuckDB, which the next turn's reads waited behind)."""
    seq = work.run.seq
    if seq is None:
        return False
    latest = work.session_store.as_user(work.user_id).latest_summary(work.run.session_id)
    after = latest.through_run_seq if latest is not None else -1
    return seq - after <= work.history_window


def _defer_summary(work: MemoryWork) -> None:
    store, session_id = work.session_store, work.run.session_id
    log.debug("Summary: deferred (the runs it lacks are still in the history window)")
    worker().defer(deferred_summary_name(store, session_id), summary_keys(work),
                   lambda: _summary_job(work, when_due=False), "Updating the summary")


def deferred_summary_name(store: Store, session_id: str) -> tuple[str, str, str]:
    """The name a session's deferred summary work is kept under in the worker."""
    return ("summary", store.path or f"in-memory store {id(store)}", session_id)


def catch_up_summary(store: Store, session_id: str, timeout: float,
                     work: Callable[[], MemoryWork | None] | None = None) -> bool:
    """Bring the session's summary up to its last run before it is read (bounded wait).

    Runs the summary work this process deferred for the session; without any, and
    when ``work`` is given (an agent with summaries on), its work. ``False`` on timeout.
    """
    if not wait_for_memory_work(session_id, None, timeout):
        return False
    jobs = worker()
    if not jobs.run_deferred(deferred_summary_name(store, session_id)):
        found = work() if work is not None else None
        if found is None:
            return True
        jobs.run_soon(summary_keys(found), lambda: _summary_job(found, when_due=False),
                      "Updating the summary")
    return wait_for_memory_work(session_id, None, timeout)


def metered(work: MemoryWork, kind: str, store: Store,
            model: ChatModel | None = None) -> MeteredModel:
    """The work's model (or ``model``), each call of it a row of the usage ledger in
    ``store``, written by a job of its own after this one: the next turn waits for the
    user's memory work, not for the ledger's COMMIT (on DuckDB it came after the last
    run's, ~10-17 ms of the next turn's wait in bench/bench_search_scale.py). Readers of
    the ledger wait for it (``wait_for_memory_work(..., usage=True)``)."""
    acting = store.as_user(work.user_id)

    def record(call: ModelCall) -> None:
        row = call.model_copy(update={"session_id": work.run.session_id,
                                      "user_id": work.user_id, "run_id": work.run.run_id})
        worker().submit({usage_key(work.user_id)}, lambda: acting.record_model_call(row),
                        "Recording a model call")

    return MeteredModel(model or work.model, kind, record)


def _memories_job(work: MemoryWork) -> str | None:
    from .user_memories import update_user_memories

    log.debug("*********** Updating memories of user %s (run %s) ***********", work.user_id,
              work.run.run_id)
    model = metered(work, "memory", work.memory_store)
    update = update_user_memories(work.memory_store, model, work.run, work.user_id,
                                  classify=work.classify, limit=work.memory_limit,
                                  selected=work.selected)
    log.debug("Memories: %s", update.describe() or "nothing changed")
    for problem in update.skipped:
        worker().report(f"Skipped a memory change the model asked for: {problem}")
    if update.changed:
        changes.notify(changes.Change("memories", work.run.session_id, work.user_id,
                                      work.memory_store.path))
    return update.describe()


def _summary_job(work: MemoryWork, when_due: bool = True) -> str | None:
    from .summaries import MAX_UPDATES, summary_due, update_session_summary

    store, session_id = work.session_store, work.run.session_id
    if when_due and not summary_due(store, session_id, work.history_window):
        _defer_summary(work)
        return None
    log.debug("*********** Updating the summary of session %s ***********", session_id)
    model = metered(work, "summary", store, work.summary_model)
    stored = None
    for _ in range(MAX_UPDATES):  # a long backlog is folded in bounded steps
        folded = update_session_summary(store, model, session_id)
        if folded is None:
            break
        stored = folded
    if stored is None:
        log.debug("Summary: nothing new to fold in")
        return None
    log.debug("Summary v%s: %s (topics: %s)", stored.version, stored.summary,
              ", ".join(stored.topics))
    changes.notify(changes.Change("summary", work.run.session_id, work.user_id,
                                  work.session_store.path))
    return f"summary v{stored.version}"


def wait_for_memory_work(session_id: str | None, user_id: str | None, timeout: float,
                         usage: bool = False) -> bool:
    """Wait (bounded) for queued work on this session or user; ``False`` on timeout.

    Reads call this first (read-your-writes): a memory or summary read sees the work
    already queued for it; ``usage``: and the user's ledger rows of that work. In the
    job thread itself it returns at once (a job that reads must not wait for itself).
    """
    jobs = worker()
    if jobs.in_worker_thread():
        return True
    keys = set()
    if session_id:
        keys.add(session_key(session_id))
    if user_id:
        keys.add(user_key(user_id))
        if usage:
            keys.add(usage_key(user_id))
    return jobs.wait_for(keys, timeout) if keys else True


def take_failures() -> list[str]:
    """Background failures not yet shown to the user (the notebook shows them)."""
    return worker().drain_failures()
