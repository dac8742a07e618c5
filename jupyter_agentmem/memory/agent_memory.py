"""``AgentMemory``: phidata's memory object, reading and writing through the store."""

from __future__ import annotations

from typing import Protocol

from ..model import ChatModel
from ..store import DuckDbStore, MemoryDb, Store
from ..types import Memory, Message, Run, SessionSummary
from .jobs import MemoryWork, queue_memory_work, wait_for_memory_work
from .selection import select_memories
from .worker import Outcome


class MemoryOwner(Protocol):
    """What the memory needs of the agent it belongs to."""

    session_id: str
    model: ChatModel

    @property
    def effective_user_id(self) -> str: ...


class AgentMemory:
    """Chat history, user memories and session summaries of one agent.

    The flags have phidata's meaning and defaults. History and summaries live with
    the session (the agent's storage); memories live in ``db`` when given.
    """

    def __init__(
        self,
        db: MemoryDb | None = None,
        create_user_memories: bool = False,
        update_user_memories_after_run: bool = True,
        create_session_summary: bool = False,
        update_session_summary_after_run: bool = True,
        classify_memories: bool = False,
        wait_timeout: float = 30.0,
        model: ChatModel | None = None,
        memory_limit: int = 30,
    ) -> None:
        self.db = db
        self.create_user_memories = create_user_memories
        self.update_user_memories_after_run = update_user_memories_after_run
        self.create_session_summary = create_session_summary
        self.update_session_summary_after_run = update_session_summary_after_run
        self.classify_memories = classify_memories
        self.wait_timeout = wait_timeout
        self.model = model  # the model for memory work; the agent's when None
        # Past this many memories a prompt (and the memory manager) gets the relevant
        # ones and the newest, not all (memory/selection.py).
        self.memory_limit = memory_limit
        self.system_message: Message | None = None
        # Called from the worker thread with (outcome, ok) after each memory job.
        self.on_outcome: Outcome | None = None
        self._agent: MemoryOwner | None = None
        self._session_store: Store | None = None

    # --- wiring (done by Agent) ----------------------------------------------
    def attach(self, agent: MemoryOwner, session_store: Store) -> None:
        self._agent = agent
        self._session_store = session_store

    @property
    def session_store(self) -> Store:
        if self._session_store is None:
            self._session_store = DuckDbStore(None)
        return self._session_store

    @property
    def memory_store(self) -> Store:
        return self.db.store if self.db is not None else self.session_store

    @property
    def owner(self) -> MemoryOwner:
        if self._agent is None:
            raise RuntimeError("this AgentMemory belongs to no Agent yet: "
                               "pass it to Agent(memory=...)")
        return self._agent

    @property
    def session_id(self) -> str:
        return self.owner.session_id

    @property
    def user_id(self) -> str:
        return self.owner.effective_user_id

    # --- what phidata users read ---------------------------------------------
    @property
    def runs(self) -> list[Run]:
        """The session's successful runs, oldest first."""
        return [r for r in self.session_store.session_runs(self.session_id) if r.status == "ok"]

    @property
    def messages(self) -> list[Message]:
        """The latest system message, then every message of the session's successful runs."""
        stored = [m for r in self.runs for m in r.messages]
        return ([self.system_message] if self.system_message else []) + stored

    @property
    def memories(self) -> list[Memory]:
        """The current user's live memories, after the memory work queued for them."""
        wait_for_memory_work(None, self.user_id, self.wait_timeout)
        return self.memory_store.user_memories(self.user_id)

    @property
    def summary(self) -> SessionSummary | None:
        """The session's latest summary, after the summary work queued for it."""
        wait_for_memory_work(self.session_id, None, self.wait_timeout)
        return self.session_store.latest_summary(self.session_id)

    def prompt_memories(self, user_id: str, message: str) -> list[Memory]:
        """The memories the prompt for ``message`` carries (bounded by memory_limit)."""
        return select_memories(self.memory_store, user_id, message, self.memory_limit)

    # --- background memory work ----------------------------------------------
    def before_run(self, session_id: str, user_id: str) -> None:
        """Wait (bounded) for earlier memory work of this user or session."""
        wait_for_memory_work(session_id, user_id, self.wait_timeout)

    def after_run(self, run: Run, user_id: str, model: ChatModel) -> None:
        """Queue the memory and summary work the flags ask for."""
        queue_memory_work(MemoryWork(
            run=run, user_id=user_id, model=self.model or model,
            memory_store=self.memory_store, session_store=self.session_store,
            extract_memories=self.create_user_memories and self.update_user_memories_after_run,
            classify=self.classify_memories, memory_limit=self.memory_limit,
            update_summary=(self.create_session_summary
                            and self.update_session_summary_after_run),
            on_outcome=self.on_outcome))

    def update_summary(self) -> SessionSummary | None:
        """Fold the runs since the last summary into a new one now (no background)."""
        from .summaries import update_session_summary

        update_session_summary(self.session_store, self._work_model(), self.session_id)
        return self.summary

    def update_memories(self) -> list[Memory]:
        """Run the memory manager on the session's last run now (no background)."""
        from .user_memories import update_user_memories

        last = self.session_store.recent_runs(self.session_id, 1)
        if last:
            update_user_memories(self.memory_store, self._work_model(), last[0], self.user_id,
                                 classify=self.classify_memories, limit=self.memory_limit)
        return self.memories

    def _work_model(self) -> ChatModel:
        return self.model or self.owner.model

    def wait(self, timeout: float | None = None) -> bool:
        """Block until this agent's queued memory work is done; False on timeout."""
        return wait_for_memory_work(self.session_id, self.user_id,
                                    self.wait_timeout if timeout is None else timeout)
