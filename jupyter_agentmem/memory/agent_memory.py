"""``AgentMemory``: phidata's memory object, reading and writing through the store."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any, Protocol

from ..model import ChatModel
from ..store import DuckDbStore, MemoryDb, Store
from ..store.phidata_rows import agent_run, message_dict
from ..types import AgentRun, Memory, Message, Run, SessionSummary
from .helpers import MemoryClassifier, MemoryManager, MemorySummarizer
from .jobs import MemoryWork, catch_up_summary, queue_memory_work, wait_for_memory_work
from .recall import Exchange, check_recall, recall_exchanges
from .selection import select_memories
from .worker import Outcome


class MemoryOwner(Protocol):
    """What the memory needs of the agent it belongs to."""

    session_id: str
    model: ChatModel
    user_id: str | None
    add_history_to_messages: bool
    num_history_responses: int

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
        classifier: MemoryClassifier | None = None,
        manager: MemoryManager | None = None,
        summarizer: MemorySummarizer | None = None,
        user_id: str | None = None,
        update_system_message_on_change: bool = False,
        num_memories: int | None = None,
        recall: int = 0,
    ) -> None:
        if db is None and manager is not None and manager.db is not None:
            db = manager.db
        self._db = db
        self.classifier = classifier
        self.manager = manager
        self.summarizer = summarizer
        self.update_system_message_on_change = update_system_message_on_change
        self.num_memories = num_memories
        self._user_id = user_id or (manager.user_id if manager is not None else None)
        self._cleared = False  # clear(): empty until the next run, as phidata's
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
        # recall=N: the prompt also carries the N earlier exchanges of the same user most
        # relevant to the message, from other sessions or from before the history window
        # (memory/recall.py). 0: off.
        self.recall = recall
        self.system_message: Message | None = None
        # Called from the worker thread with (outcome, ok) after each memory job.
        self.on_outcome: Outcome | None = None
        self._agent: MemoryOwner | None = None
        self._session_store: Store | None = None
        # (user, message, the memories) of the last prompt (prompt_memories).
        self._selected: tuple[str, str, tuple[Memory, ...]] | None = None

    # --- wiring (done by Agent) ----------------------------------------------
    def attach(self, agent: MemoryOwner, session_store: Store) -> None:
        self._agent = agent
        self._session_store = session_store

    @property
    def session_store(self) -> Store:
        """The sessions' store, acting as this memory's user (``user_id``)."""
        if self._session_store is None:
            self._session_store = DuckDbStore(None)
        return self._session_store.as_user(self._acting_user)

    @property
    def memory_store(self) -> Store:
        """The memories' store (the memory db's, else the sessions'), acting as this
        memory's user."""
        return (self._db.store.as_user(self._acting_user) if self._db is not None
                else self.session_store)

    @property
    def db(self) -> MemoryDb | None:
        """phidata's memory db, its calls acting as this memory's user."""
        if self._db is None:
            return None
        return self._db.for_user(self._acting_user)  # type: ignore[return-value]

    @db.setter
    def db(self, value: MemoryDb | None) -> None:
        self._db = value

    @property
    def _acting_user(self) -> str | None:
        return self._agent.effective_user_id if self._agent is not None else self._user_id

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
        """The agent's user; else ``AgentMemory(user_id=)``; else ``default``."""
        return self.owner.effective_user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self._user_id = value

    @property
    def configured_user_id(self) -> str | None:
        """``AgentMemory(user_id=)`` (or the manager's), used when the agent has none."""
        return self._user_id

    # --- what phidata users read ---------------------------------------------
    def stored_runs(self) -> list[Run]:
        """The session's successful runs as stored, oldest first."""
        if self._cleared:
            return []
        return [r for r in self.session_store.session_runs(self.session_id) if r.status == "ok"]

    @property
    def runs(self) -> list[AgentRun]:
        """The session's successful runs, oldest first, as phidata's ``AgentRun``
        (``.message``, ``.response`` a ``RunResponse``)."""
        return [agent_run(r) for r in self.stored_runs()]

    @property
    def messages(self) -> list[Message]:
        """The latest system message, then every message of the session's successful runs."""
        stored = [m for r in self.stored_runs() for m in r.messages]
        system = [self.system_message] if self.system_message and not self._cleared else []
        return system + stored

    @property
    def memories(self) -> list[Memory]:
        """The user's live memories, newest first (phidata's ``last_n``), after the
        memory work queued for them."""
        if self._cleared:
            return []
        wait_for_memory_work(None, self.user_id, self.wait_timeout)
        found = self.memory_store.user_memories()[::-1]
        return found if self.num_memories is None else found[:self.num_memories]

    @property
    def summary(self) -> SessionSummary | None:
        """The session's latest summary, brought up to its last run first (summaries are
        made lazily: see ``memory/jobs.py``)."""
        if self._cleared:
            return None
        self.catch_up_summary()
        return self.session_store.latest_summary(self.session_id)

    def catch_up_summary(self) -> bool:
        """Bring the stored summary up to the session's last run (bounded wait): the
        summary work deferred in this process, or this memory's when it keeps one."""
        return catch_up_summary(self.session_store, self.session_id, self.wait_timeout,
                                self._summary_work if self._updates_summary else None)

    @property
    def _updates_summary(self) -> bool:
        return self.create_session_summary and self.update_session_summary_after_run

    def _summary_work(self) -> MemoryWork | None:
        last = self.session_store.recent_runs(self.session_id, 1)
        if not last:
            return None
        return self._work(last[0], self.owner.effective_user_id, self.owner.model)

    def prompt_memories(self, user_id: str, message: str) -> list[Memory]:
        """The memories the prompt for ``message`` carries (bounded by memory_limit), as
        the memory work queued for this user leaves them (waited for, bounded)."""
        wait_for_memory_work(None, user_id, self.wait_timeout)
        found = select_memories(self.memory_store, user_id, message, self.memory_limit)
        # The memory job after this run shows the manager the same ones.
        self._selected = (user_id, message, tuple(found))
        return found

    @property
    def recall(self) -> int:
        return self._recall

    @recall.setter
    def recall(self, value: int) -> None:
        self._recall = check_recall(value)

    def recalled_exchanges(self, user_id: str, message: str, exclude: Collection[str],
                           skip_cell: tuple[str, str] | None = None,
                           spare: int = 0) -> list[Exchange]:
        """The ``recall`` (+ ``spare``) earlier exchanges of ``user_id`` most relevant to
        ``message``, best first (none when recall is 0), leaving out the runs in
        ``exclude``."""
        if not self.recall:
            return []
        return recall_exchanges(self.session_store, user_id, message, self.recall + spare,
                                exclude, skip_cell)

    # --- phidata's helpers ----------------------------------------------------
    def clear(self) -> None:
        """phidata's ``clear()``: runs, messages, summary and memories read empty until the
        next run (phidata reloads them from storage then). Nothing stored is deleted."""
        self._cleared = True
        self.system_message = None

    def reload(self) -> None:
        """Read the session from the store again (after ``clear()``), as phidata's
        ``read_from_storage`` does."""
        self._cleared = False

    def get_messages_from_last_n_runs(self, last_n: int | None = None,
                                      skip_role: str | None = None) -> list[Message]:
        """The messages of the last ``last_n`` runs (all when ``None``), oldest first."""
        runs = self.stored_runs()
        if last_n is not None:
            runs = runs[-last_n:] if last_n > 0 else []
        return [m for r in runs for m in r.messages if skip_role is None or m.role != skip_role]

    def get_message_pairs(self, user_role: str = "user",
                          assistant_role: list[str] | None = None
                          ) -> list[tuple[Message, Message]]:
        """(first user message, last assistant message) of each run that has both."""
        assistant = assistant_role or ["assistant", "model", "CHATBOT"]
        pairs = []
        for run in self.stored_runs():
            user = next((m for m in run.messages if m.role == user_role), None)
            reply = next((m for m in reversed(run.messages) if m.role in assistant), None)
            if user is not None and reply is not None:
                pairs.append((user, reply))
        return pairs

    def get_messages(self) -> list[dict[str, Any]]:
        return [m.model_dump(exclude_none=True) for m in self.messages]

    def to_dict(self) -> dict[str, Any]:
        """phidata's ``AgentMemory.to_dict()`` (the ``memory`` column of its storage)."""
        runs = self.stored_runs()
        summary = self.summary
        memories = self.memories if self.create_user_memories else []
        return {
            "runs": [json.loads(r.model_dump_json(include={"run_id", "session_id", "model"}))
                     | {"messages": [message_dict(m) for m in r.messages]} for r in runs],
            "messages": [message_dict(m) for m in self.messages],
            "update_system_message_on_change": self.update_system_message_on_change,
            "create_session_summary": self.create_session_summary,
            "update_session_summary_after_run": self.update_session_summary_after_run,
            "create_user_memories": self.create_user_memories,
            "update_user_memories_after_run": self.update_user_memories_after_run,
            "user_id": self.user_id,
            **({"num_memories": self.num_memories} if self.num_memories is not None else {}),
            **({"summary": summary.to_dict()} if summary is not None else {}),
            **({"memories": [m.to_dict() for m in memories]} if memories else {}),
        }

    # --- background memory work ----------------------------------------------
    def before_run(self, session_id: str, user_id: str) -> None:
        """A run reads the session again, as phidata's (after ``clear()``).

        Nothing is waited for here: the prompt's memories wait for the memory work
        queued for this user (``prompt_memories``), after recall, which needs none of it
        (at 100k messages recall's ~10 ms ran while the last turn's memory manager call
        finished, instead of after it); the summary is read brought up to date only when
        it lacks a run the prompt does not carry (memory/jobs.py: it is lazy), where the
        turn waited for the session's summary check (~6 ms) or a summary (~30 ms) for
        nothing."""
        del session_id, user_id
        self._cleared = False

    def after_run(self, run: Run, user_id: str, model: ChatModel) -> None:
        """Queue the memory and summary work the flags ask for."""
        queue_memory_work(self._work(run, user_id, model))

    def _work(self, run: Run, user_id: str, model: ChatModel) -> MemoryWork:
        manager_model = self.manager.model if self.manager is not None else None
        classifier_model = self.classifier.model if self.classifier is not None else None
        summarizer_model = self.summarizer.model if self.summarizer is not None else None
        owner = self.owner
        message = run.message.content if run.message is not None else None
        selected = (self._selected[2] if self._selected is not None
                    and self._selected[:2] == (user_id, message) else None)
        return MemoryWork(
            run=run, user_id=user_id,
            model=manager_model or classifier_model or self.model or model,
            summary_model=summarizer_model,
            memory_store=self.memory_store, session_store=self.session_store,
            extract_memories=self.create_user_memories and self.update_user_memories_after_run,
            classify=self.classify_memories, memory_limit=self.memory_limit,
            update_summary=self._updates_summary,
            history_window=(owner.num_history_responses
                            if owner.add_history_to_messages else 0),
            on_outcome=self.on_outcome, selected=selected)

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
                                    self.wait_timeout if timeout is None else timeout,
                                    usage=True)
