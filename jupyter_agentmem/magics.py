"""The notebook surface: ``%%agent`` sends a cell to the agent, ``%agent`` inspects the store."""

from __future__ import annotations

import sys
import uuid
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from traitlets import Bool, Float, Int, TraitError, Unicode, validate

from . import magic_options as opt
from .paths import default_db_path

CELL_USAGE = (
    "Usage: %%agent [session=ID] [user=ID] [model=ID] [history=N] [system=TEXT] "
    "[stream=on|off] [format=markdown|text] [memories=on|off] [summary=on|off], "
    "then your message in the cell."
)
LINE_USAGE = (
    "Usage: %agent sessions | history [session=ID] | memories [user=ID] | "
    "summary [session=ID] | forget memory_id=ID [user=ID] | forget user=ID confirm=yes | "
    "panel [session=ID] [user=ID]"
)

CELL_OPTIONS: opt.Parsers = {
    "session": opt.non_empty, "user": opt.non_empty, "model": opt.non_empty,
    "history": opt.runs_count, "system": opt.any_text, "stream": opt.on_off,
    "format": opt.choice("markdown", "text"), "memories": opt.on_off, "summary": opt.on_off,
}


@magics_class
class AgentMagics(Magics):
    """``%%agent`` and ``%agent``; defaults set with ``%config AgentMagics.<name> = ...``."""

    model = Unicode("gpt-4o-mini", help="Model id; 'demo' is the offline demo.").tag(config=True)
    base_url = Unicode("", help="OpenAI-compatible server URL (else OPENAI_BASE_URL)."
                       ).tag(config=True)
    history = Int(3, help="How many earlier runs go with each message.").tag(config=True)
    db = Unicode("", help="DuckDB file or postgresql:// URL (AGENTMEM_DB wins when set)."
                 ).tag(config=True)
    user = Unicode("default", help="User id the memories belong to.").tag(config=True)
    system = Unicode("", help="Description / system prompt of the agent.").tag(config=True)
    stream = Bool(True, help="Stream replies into the cell.").tag(config=True)
    format = Unicode("markdown", help="markdown or text.").tag(config=True)
    memories = Bool(False, help="Extract and use user memories.").tag(config=True)
    summary = Bool(False, help="Keep a session summary.").tag(config=True)
    timeout = Float(60.0, help="Seconds to wait for the model server.").tag(config=True)
    max_retries = Int(2, help="Retries of a failed model call (the openai client's)."
                      ).tag(config=True)
    memory_wait = Float(30.0, help="Seconds a run waits for earlier memory work."
                        ).tag(config=True)

    @validate("history")
    def _valid_history(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise TraitError("AgentMagics.history must be >= 0 (runs of history).")
        return proposal["value"]

    @validate("format")
    def _valid_format(self, proposal: Any) -> str:
        if proposal["value"] not in ("markdown", "text"):
            raise TraitError("AgentMagics.format must be 'markdown' or 'text'.")
        return proposal["value"]

    @validate("model", "user")
    def _valid_name(self, proposal: Any) -> str:
        if not proposal["value"].strip():
            raise TraitError(f"AgentMagics.{proposal['trait'].name} cannot be empty.")
        return proposal["value"]

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # The notebook's own session: one per kernel, shown in each reply's footer.
        self.session_id = "nb-" + uuid.uuid4().hex[:12]
        self._models: dict[tuple[str, str, float, int], Any] = {}

    # --- shared pieces --------------------------------------------------------
    @property
    def db_path(self) -> str:
        return default_db_path(self.db or None)

    @property
    def store(self) -> Any:
        """The store at ``db_path``: a DuckDB file, or a ``postgresql://`` URL."""
        from .store import open_store

        return open_store(self.db_path)

    def chat_model(self, model_id: str) -> Any:
        """One model object (one HTTP client) per model id and server, reused."""
        key = (model_id, self.base_url, self.timeout, self.max_retries)
        if key not in self._models:
            if model_id == "demo":
                from .demo import demo_model

                self._models[key] = demo_model()
            else:
                from .model import OpenAIChat

                self._models[key] = OpenAIChat(id=model_id, base_url=self.base_url or None,
                                               timeout=self.timeout,
                                               max_retries=self.max_retries)
        return self._models[key]

    # --- %%agent --------------------------------------------------------------
    @cell_magic("agent")
    def agent_cell(self, line: str, cell: str) -> None:
        """Send the cell to the agent and stream the reply into the cell."""
        options = opt.parse_options(line, CELL_OPTIONS, CELL_USAGE)
        message = cell.strip()
        if not message:
            raise UsageError("The cell is empty: write your message below %%agent. "
                             + CELL_USAGE)
        from .agent import Agent
        from .memory.agent_memory import AgentMemory
        from .model import ModelConfigError
        from .render import MemoryStatus, ReplyView
        from .storage import AgentStorage
        from .store import LockTimeout

        model = self.chat_model(options.get("model", self.model))
        try:
            model.client  # noqa: B018 (fail before anything is stored when unconfigured)
        except ModelConfigError as exc:
            raise UsageError(str(exc)) from None
        history = options.get("history", self.history)
        agent = Agent(
            model=model,
            storage=AgentStorage(self.store),
            memory=AgentMemory(
                create_user_memories=options.get("memories", self.memories),
                create_session_summary=options.get("summary", self.summary),
                wait_timeout=self.memory_wait),
            add_history_to_messages=history > 0,
            num_history_responses=history,
            description=options.get("system", self.system) or None,
            session_id=options.get("session", self.session_id),
            user_id=options.get("user", self.user),
        )
        self._show_memory_failures()
        view = ReplyView(markdown=options.get("format", self.format) == "markdown",
                         use_display=True)
        jobs = agent.memory.create_user_memories + agent.memory.create_session_summary
        status = MemoryStatus(jobs) if jobs else None
        agent.memory.on_outcome = status
        try:
            response = agent.respond(
                message, on_delta=view.add if options.get("stream", self.stream) else None)
        except LockTimeout as exc:
            # Another kernel kept the database: nothing was sent or stored, the cell
            # still holds the message. Say so without a traceback.
            raise UsageError(str(exc)) from None
        view.finish(response)
        if status is not None and response.status == "ok" and response.stored:
            status.show()  # the worker updates this line when memory work is done

    @staticmethod
    def _show_memory_failures() -> None:
        from .memory.worker import worker

        for failure in worker().drain_failures():
            print(f"Warning: background memory work: {failure}", file=sys.stderr)

    # --- %agent ---------------------------------------------------------------
    @line_magic("agent")
    def agent_line(self, line: str) -> Any:
        """Inspect and manage what the agent stores: see LINE_USAGE."""
        name, rest = opt.split_subcommand(line, _SUBCOMMANDS, LINE_USAGE)
        handler, parsers = _SUBCOMMANDS[name]
        return handler(self, opt.parse_options(rest, parsers, LINE_USAGE))

    def _sessions(self, options: dict[str, Any]) -> Any:
        return _frame(self.store.list_sessions(),
                      ["session_id", "user_id", "agent_name", "model", "runs", "messages",
                       "created_at", "updated_at"])

    def _history(self, options: dict[str, Any]) -> Any:
        rows = self.store.message_rows(options.get("session", self.session_id))
        return _frame(rows, ["message_id", "run_seq", "seq", "role", "content", "status",
                             "name", "tool_calls", "tool_call_id", "run_id", "created_at",
                             "edited_at"])

    def _memories(self, options: dict[str, Any]) -> Any:
        memories = self.store.user_memories(options.get("user", self.user),
                                            include_deleted=options.get("deleted", False))
        return _frame([m.model_dump() for m in memories],
                      ["memory_id", "user_id", "memory", "topics", "input", "session_id",
                       "created_at", "updated_at", "deleted_at"])

    def _summary(self, options: dict[str, Any]) -> Any:
        summaries = self.store.list_summaries(options.get("session", self.session_id))
        return _frame([s.model_dump() for s in summaries],
                      ["session_id", "version", "summary", "topics", "through_run_seq",
                       "created_at"])

    def _forget(self, options: dict[str, Any]) -> None:
        from .store import StoreError

        user = options.get("user", self.user)
        store = self.store
        try:
            if "memory_id" in options:
                store.delete_memory(user, options["memory_id"], actor="user")
                print(f"Forgot memory {options['memory_id']} of user {user!r} (undo from the "
                      "panel or memory_events).")
                return
        except StoreError as exc:
            raise UsageError(str(exc)) from None
        if "user" not in options:
            raise UsageError("forget needs memory_id=ID, or user=ID confirm=yes. " + LINE_USAGE)
        if options.get("confirm") != "yes":
            n = len(store.user_memories(user))
            raise UsageError(f"This forgets all {n} memories of user {user!r} (soft delete, "
                             "undoable). Add confirm=yes to do it.")
        n = store.delete_user_memories(user, actor="user")
        print(f"Forgot {n} memories of user {user!r}.")

    def _panel(self, options: dict[str, Any]) -> Any:
        from .agent_panel import panel

        return panel(session_id=options.get("session", self.session_id),
                     user_id=options.get("user", self.user), store=self.store)


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


_SUBCOMMANDS: dict[str, tuple[Any, opt.Parsers]] = {
    "sessions": (AgentMagics._sessions, {}),
    "history": (AgentMagics._history, {"session": opt.non_empty}),
    "memories": (AgentMagics._memories, {"user": opt.non_empty, "deleted": opt.on_off}),
    "summary": (AgentMagics._summary, {"session": opt.non_empty}),
    "forget": (AgentMagics._forget, {"memory_id": opt.non_empty, "user": opt.non_empty,
                                     "confirm": opt.any_text}),
    "panel": (AgentMagics._panel, {"session": opt.non_empty, "user": opt.non_empty}),
}


def unregister(shell: Any) -> None:
    """Remove ``%%agent`` and ``%agent`` from ``shell``."""
    magics = shell.magics_manager.magics
    magics["cell"].pop("agent", None)
    magics["line"].pop("agent", None)
    shell.configurables = [c for c in shell.configurables if not isinstance(c, AgentMagics)]
