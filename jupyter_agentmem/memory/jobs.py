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
from ..types import ModelCall, Run
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
    # The memory ids the run's prompt found relevant to its message: the memory manager
    # is shown those again, read by id (no search while the next turn waits for this job).
    selected: tuple[str, ...] | None = None


def user_key(user_id: str) -> tuple[str, str]:
    return ("user", user_id)


def session_key(session_id: str) -> tuple[str, str]:
    return ("session", session_id)


def queue_memory_work(work: MemoryWork) -> None:
    """Queue the memory and summary jobs ``work`` asks for."""
    if work.extract_memories:
        worker().submit({user_key(work.user_id)}, lambda: _memories_job(work),
                        "Updating user memories", work.on_outcome)
    if work.update_summary:
        worker().submit({session_key(work.run.session_id)}, lambda: _summary_job(work),
                        "Updating the summary", work.on_outcome)


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
        jobs.run_soon({session_key(session_id)}, lambda: _summary_job(found, when_due=False),
                      "Updating the summary")
    return wait_for_memory_work(session_id, None, timeout)


def metered(work: MemoryWork, kind: str, store: Store,
            model: ChatModel | None = None) -> MeteredModel:
    """The work's model (or ``model``), each call of it a row of the usage ledger in
    ``store``."""
    def record(call: ModelCall) -> None:
        store.as_user(work.user_id).record_model_call(call.model_copy(update={
            "session_id": work.run.session_id, "user_id": work.user_id,
            "run_id": work.run.run_id}))

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
        log.debug("Summary: deferred (the runs it lacks are still in the history window)")
        worker().defer(deferred_summary_name(store, session_id), {session_key(session_id)},
                       lambda: _summary_job(work, when_due=False), "Updating the summary")
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


def wait_for_memory_work(session_id: str | None, user_id: str | None, timeout: float) -> bool:
    """Wait (bounded) for queued work on this session or user; ``False`` on timeout.

    Reads call this first (read-your-writes): a memory or summary read sees the work
    already queued for it. In the job thread itself it returns at once (a job that
    reads must not wait for itself).
    """
    jobs = worker()
    if jobs.in_worker_thread():
        return True
    keys = set()
    if session_id:
        keys.add(session_key(session_id))
    if user_id:
        keys.add(user_key(user_id))
    return jobs.wait_for(keys, timeout) if keys else True


def take_failures() -> list[str]:
    """Background failures not yet shown to the user (the notebook shows them)."""
    return worker().drain_failures()
