"""The notebook surface: ``%%agent`` sends a cell to the agent, ``%agent`` inspects the store."""

from __future__ import annotations

import sys
import uuid
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class, no_var_expand
from traitlets import Bool, Dict, Float, Int, TraitError, Unicode, validate

from .. import runtime
from . import completion
from . import options as opt
from .commands import COMMANDS, command_usage
from .errors import user_errors
from .preload import Preload, first_cell_steps
from .reply_actions import variable_name

if TYPE_CHECKING:  # imported on first use: %load_ext stays cheap
    from ..model import ChatModel
    from ..store import Store

MIN_BUDGET = 200  # tokens: below this not even a short message and its overhead fit


def history_size(name: str, value: str) -> tuple[str, int]:
    """``history=3`` -> ``("runs", 3)``; ``history=8k`` / ``1.5k`` -> ``("tokens", 8000)``."""
    text = value.strip().lower()
    if text.isascii() and text.isdigit() and len(text) <= 6 and int(text) <= opt.MAX_RUNS:
        return "runs", int(text)  # ASCII digits only: int() takes any script's, any size
    number = text[:-1]
    if text.endswith("k") and 0 < len(number) <= 9 and number.replace(".", "", 1).isdigit():
        tokens = int(float(number) * 1000)
        if tokens >= MIN_BUDGET:
            return "tokens", tokens
    raise UsageError(f"{name}={opt.shown(value)} is not valid: give a whole number of runs "
                     f"from 0 to {opt.MAX_RUNS:,} ({name}=3) or a token budget of at least "
                     f"{MIN_BUDGET} tokens "
                     f"({name}=8k, {name}=0.5k).")


# = memory.recall.MAX_RECALL (not imported here: %load_ext stays light; a test checks).
MAX_RECALL = 20
FORMATS = ("markdown", "text", "code")
RERUNS = ("supersede", "append")
CELL_OPTIONS = opt.table([
    opt.Option("session", opt.non_empty, "ID", "a session id; new ids start a session"),
    opt.Option("user", opt.non_empty, "ID", "the user the memories belong to"),
    opt.Option("model", opt.non_empty, "ID", "a model id; demo is the offline demo"),
    opt.Option("history", history_size, "N|Nk",
               "runs of history (3), or a token budget for the prompt (8k)"),
    opt.Option("system", opt.text, "TEXT", "the agent's description / system prompt"),
    opt.Option("stream", opt.on_off, "on|off", "stream the reply into the cell"),
    opt.Option("format", opt.choice(*FORMATS), "|".join(FORMATS),
               "how to show it; code also puts the reply's code in a new cell below"),
    opt.Option("memories", opt.on_off, "on|off", "extract and use user memories"),
    opt.Option("summary", opt.on_off, "on|off", "keep a session summary"),
    opt.Option("context", opt.on_off, "on|off",
               "replace {name}, {In[n]}, {Out[n]}, {_}, {Err} with notebook values"),
    opt.Option("out", variable_name, "NAME", "also store the reply text in this variable"),
    opt.Option("rerun", opt.choice(*RERUNS), "|".join(RERUNS),
               "re-running a cell replaces its earlier run in history, or appends"),
    opt.Option("recall", opt.count(0, MAX_RECALL), "N",
               "also send the N earlier exchanges of this user most relevant to the "
               "message (other sessions, older runs); 0: off"),
    opt.Option("dry", opt.on_off, "on|off", "show what would be sent; send and store nothing"),
    opt.Option("debug", opt.on_off, "on|off", "show what is sent above the reply"),
])
MAX_CELL_ID = 200  # nbformat ids are 1-64 characters
MIN_CONTEXT_CHARS, MAX_CONTEXT_CHARS = 100, 1_000_000  # the cut note alone is ~50 chars
MIN_CONTEXT_SECONDS, MAX_CONTEXT_SECONDS = 0.1, 600.0
CELL_USAGE = ("Usage: %%agent " + opt.usage_of(CELL_OPTIONS.values())
              + ", then your message in the cell.")


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
    session = Unicode("", help="Session of cells and commands without session= (empty: "
                      "a new session for each kernel, shown under each reply)."
                      ).tag(config=True)
    system = Unicode("", help="Description / system prompt of the agent.").tag(config=True)
    stream = Bool(True, help="Stream replies into the cell.").tag(config=True)
    format = Unicode("markdown", help="markdown, text or code (code: a new cell below)."
                     ).tag(config=True)
    memories = Bool(False, help="Extract and use user memories.").tag(config=True)
    summary = Bool(False, help="Keep a session summary.").tag(config=True)
    timeout = Float(60.0, help="Seconds a model call may take in all (a streamed reply and "
                    "retries included); what arrived by then is kept.").tag(config=True)
    max_retries = Int(2, help="Retries of a failed model call (the openai client's)."
                      ).tag(config=True)
    memory_wait = Float(30.0, help="Seconds a run waits for earlier memory work."
                        ).tag(config=True)
    budget_tokens = Int(0, help="Tokens this kernel may spend per day, chat and background "
                        "work together (0: no budget).").tag(config=True)
    context = Bool(True, help="Replace {name} in a cell with the notebook variable."
                   ).tag(config=True)
    history_tokens = Int(0, help="A token budget for each prompt instead of `history` runs "
                         "(0: off); a cell's history=8k sets it for that cell.").tag(config=True)
    rerun = Unicode("supersede", help="Re-running a cell: supersede its earlier run in "
                    "history, or append (keep both).").tag(config=True)
    recall = Int(0, help="Also send the N earlier exchanges of the same user most "
                 "relevant to each message, from other sessions or older runs (0: off)."
                 ).tag(config=True)
    context_chars = Int(4000, help="At most this many characters per {name} rendering."
                        ).tag(config=True)
    prices = Dict(help="Model prices for %agent usage, USD per 1M tokens: {'model': "
                  "(input, output)}; over the built-in table (model/prices.py)."
                  ).tag(config=True)
    context_timeout = Float(5.0, help="At most this many seconds to render one {name} "
                            "(a repr that hangs is cut off).").tag(config=True)
    preload = Bool(True, help="After %load_ext, import what the first %%agent cell needs "
                   "in a background thread (set it before %load_ext).").tag(config=True)
    search_language = Unicode("", help="Search and recall match words by their stem in "
                              "this language ('english', 'french', ... any Snowball "
                              "language) or 'none' (every word as written); empty: "
                              "AGENTMEM_SEARCH_LANGUAGE, else english. The index is "
                              "rebuilt for it.").tag(config=True)

    @validate("search_language")
    def _valid_search_language(self, proposal: Any) -> str:
        from ..store.text_terms import language_setting

        value = proposal["value"].strip().lower()
        if value:
            try:
                language_setting(value)
            except ValueError as exc:
                raise TraitError(f"AgentMagics.search_language: {exc}.") from None
        return value

    @validate("history", "budget_tokens")
    def _valid_count(self, proposal: Any) -> int:
        if proposal["trait"].name == "history" and not 0 <= proposal["value"] <= opt.MAX_RUNS:
            raise TraitError(f"AgentMagics.history must be from 0 to {opt.MAX_RUNS:,} "
                             "(runs of history).")
        if proposal["value"] < 0:
            raise TraitError(f"AgentMagics.{proposal['trait'].name} must be >= 0.")
        return proposal["value"]

    @validate("recall")
    def _valid_recall(self, proposal: Any) -> int:
        value = proposal["value"]
        if isinstance(value, bool) or not 0 <= value <= MAX_RECALL:
            raise TraitError(f"AgentMagics.recall must be a whole number of earlier "
                             f"exchanges from 0 (off) to {MAX_RECALL}, not {value!r:.40}.")
        return value

    @validate("context_chars")
    def _valid_context_chars(self, proposal: Any) -> int:
        if not MIN_CONTEXT_CHARS <= proposal["value"] <= MAX_CONTEXT_CHARS:
            raise TraitError(f"AgentMagics.context_chars must be between {MIN_CONTEXT_CHARS} "
                             f"and {MAX_CONTEXT_CHARS:,} (characters per {{name}}).")
        return proposal["value"]

    @validate("prices")
    def _valid_prices(self, proposal: Any) -> dict[str, Any]:
        from ..model.prices import checked_table

        try:
            return checked_table(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"AgentMagics.prices: {exc}.") from None

    @validate("context_timeout")
    def _valid_context_timeout(self, proposal: Any) -> float:
        if not MIN_CONTEXT_SECONDS <= proposal["value"] <= MAX_CONTEXT_SECONDS:
            raise TraitError(f"AgentMagics.context_timeout must be between "
                             f"{MIN_CONTEXT_SECONDS:g} and {MAX_CONTEXT_SECONDS:g} seconds "
                             "(per {name}).")
        return proposal["value"]

    @validate("history_tokens")
    def _valid_history_tokens(self, proposal: Any) -> int:
        if proposal["value"] != 0 and proposal["value"] < MIN_BUDGET:
            raise TraitError(f"AgentMagics.history_tokens must be 0 (off) or >= {MIN_BUDGET}.")
        return proposal["value"]

    @validate("rerun")
    def _valid_rerun(self, proposal: Any) -> str:
        if proposal["value"] not in RERUNS:
            raise TraitError("AgentMagics.rerun must be 'supersede' or 'append'.")
        return proposal["value"]

    @validate("format")
    def _valid_format(self, proposal: Any) -> str:
        if proposal["value"] not in FORMATS:
            raise TraitError("AgentMagics.format must be 'markdown' or 'text' or 'code'.")
        return proposal["value"]

    @validate("session")
    def _valid_session(self, proposal: Any) -> str:
        if proposal["value"]:
            try:  # an id as session= takes it: no control characters, not huge
                opt.non_empty("AgentMagics.session", proposal["value"])
            except UsageError as exc:
                raise TraitError(str(exc)) from None
        return proposal["value"]

    @validate("model", "user")
    def _valid_name(self, proposal: Any) -> str:
        if not proposal["value"].strip():
            raise TraitError(f"AgentMagics.{proposal['trait'].name} cannot be empty.")
        return self._valid_text(proposal)

    @validate("system")
    def _valid_text(self, proposal: Any) -> str:
        name = proposal["trait"].name
        try:  # the cell options' check: nothing that cannot be sent or stored
            return opt.text(name, proposal["value"])
        except UsageError as exc:
            raise TraitError(f"AgentMagics.{exc}") from None

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        # The notebook's own session: one per kernel, shown in each reply's footer.
        self.kernel_session_id = "nb-" + uuid.uuid4().hex[:12]
        self._models: dict[tuple[str, str, float, int], ChatModel] = {}
        self._search_language: tuple[str, str] = ("", "")  # (db, language) last applied
        if shell is not None and getattr(shell, "Completer", None) is not None:
            completion.register(shell, self)
        self._preload: Preload | None = None
        if shell is not None and self.preload:
            self._preload = start_preload(self, shell)

    def _wait_for_preload(self) -> None:
        """Before a magic imports anything: the background imports are done (or given up)."""
        if self._preload is not None and not self._preload.done:
            self._preload.wait()

    @property
    def session_id(self) -> str:
        """The session of cells without ``session=``: AgentMagics.session, else the
        kernel's own."""
        return self.session or self.kernel_session_id

    # --- what completion and help read -----------------------------------------
    def cell_option_table(self) -> dict[str, opt.Option]:
        return CELL_OPTIONS

    def catch_up_summary(self, session_id: str, user_id: str) -> None:
        """Bring a session's summary up to its last run before it is shown (summaries
        are lazy: memory/jobs.py). A session that keeps one (a summary is stored, or
        summaries are on) is caught up with the notebook's model even when this kernel
        deferred nothing for it (a restarted kernel, another process's runs)."""
        from ..agent import Agent
        from ..memory import AgentMemory, catch_up_summary
        from ..model.base import ModelConfigError
        from ..store import AgentStorage

        store = self.store.as_user(user_id)
        model = self.chat_model(self.model)
        try:
            model.check()
        except ModelConfigError:
            model = None  # no model to make one with: only the work deferred here
        if model is None or not (self.summary or store.latest_summary(session_id)):
            catch_up_summary(store, session_id, self.memory_wait)
            return
        agent = Agent(model=model, storage=AgentStorage(store), session_id=session_id,
                      user_id=user_id, memory=AgentMemory(create_session_summary=True,
                                                          wait_timeout=self.memory_wait))
        agent.memory.catch_up_summary()

    def known_sessions(self, user: str) -> list[dict[str, Any]]:
        """``user``'s sessions (tab completion offers no other user's ids)."""
        self._wait_for_preload()
        return self.store.as_user(user).list_sessions()

    # --- shared pieces --------------------------------------------------------
    @property
    def db_path(self) -> str:
        from ..store.location import default_db_path

        return default_db_path(self.db or None)

    @property
    def store(self) -> Store:
        """The store at ``db_path``: a DuckDB file, or a ``postgresql://`` URL."""
        from ..store import open_store

        store = open_store(self.db_path)
        wanted = (self.db_path, self.search_language)
        if wanted != self._search_language and (self.search_language
                                                or self._search_language[1]):
            from ..store.text_terms import language_setting

            # Set (or set back to the default): the database's index in this kernel is
            # made again with it at the next search.
            store.set_search_language(language_setting(self.search_language or None))
            self._search_language = wanted
        return store

    def chat_model(self, model_id: str) -> ChatModel:
        """One model object (one HTTP client) per model id and server, reused."""
        key = (model_id, self.base_url, self.timeout, self.max_retries)
        if key not in self._models:
            if model_id == "demo":
                from ..model.demo import demo_model

                self._models[key] = demo_model()
            else:
                from ..model import OpenAIChat

                chat = OpenAIChat(id=model_id, base_url=self.base_url or None,
                                  timeout=self.timeout, max_retries=self.max_retries)
                chat.server_setting = "%config AgentMagics.base_url = '<url>'"
                self._models[key] = chat
        return self._models[key]

    # --- %%agent --------------------------------------------------------------
    # The option line is taken as written: IPython would put variables into {x} and $x
    # (``system="JSON like {token}"``), and its expansion takes minutes on a long line.
    @no_var_expand
    @cell_magic("agent")
    def agent_cell(self, line: str, cell: str) -> None:
        """Send the cell to the agent and stream the reply into the cell."""
        self._wait_for_preload()
        options = opt.parse_options(line, CELL_OPTIONS, CELL_USAGE)
        message = cell.strip()
        if not message:
            raise UsageError("The cell is empty: write your message below %%agent. "
                             + CELL_USAGE)
        notes: list[str] = []  # shown under the reply
        # Only a cell with a "{" can hold a reference: the others need no context.py
        # (~20 ms to import with credentials.py, in a fresh kernel's first cell).
        if options.get("context", self.context) and "{" in message:
            from .context import interpolate

            message = interpolate(message, self.shell.user_ns, self.context_chars, notes,
                                  self.context_timeout)
        from ..agent import Agent
        from ..memory import AgentMemory, take_failures
        from ..render import ReplyView
        from ..store import AgentStorage
        from .memory_status import MemoryStatus

        model = self.chat_model(options.get("model", self.model))
        with user_errors():
            model.check()  # fail before anything is stored when unconfigured
        kind, history = options.get("history", ("tokens", self.history_tokens)
                                    if self.history_tokens else ("runs", self.history))
        agent = Agent(
            model=model,
            storage=AgentStorage(self.store),
            memory=AgentMemory(
                create_user_memories=options.get("memories", self.memories),
                create_session_summary=options.get("summary", self.summary),
                wait_timeout=self.memory_wait,
                recall=options.get("recall", self.recall)),
            add_history_to_messages=history > 0,
            num_history_responses=history if kind == "runs" else self.history,
            description=options.get("system", self.system) or None,
            session_id=options.get("session", self.session_id),
            user_id=options.get("user", self.user),
        )
        agent.history_tokens = history if kind == "tokens" else None
        agent.cell_id = current_cell_id(self.shell)
        agent.supersede_reruns = options.get("rerun", self.rerun) == "supersede"
        self._check_budget(agent, message)
        for failure in take_failures():
            print(f"Warning: background memory work: {failure}", file=sys.stderr)
        if options.get("dry"):
            from .context_view import as_text

            with user_errors():
                request = agent.build_request(message)
            print(as_text(request.context(), "Dry run: nothing was sent or stored."))
            return
        shown_as = options.get("format", self.format)
        in_place = updates_in_place(self.shell)
        view = ReplyView(markdown=shown_as != "text", use_display=in_place, notes=notes)
        jobs = agent.memory.create_user_memories + agent.memory.create_session_summary
        status = MemoryStatus(jobs, live=in_place) if jobs else None
        agent.memory.on_outcome = status
        # Another kernel keeping the database is a UsageError: nothing was sent or
        # stored, the cell still holds the message.
        with user_errors():
            response = agent.respond(
                message, on_delta=view.add if options.get("stream", self.stream) else None,
                on_request=_print_request if options.get("debug") else None)
        view.finish(response)
        if response.status == "ok" and response.content is not None:
            from .reply_actions import apply

            apply(self.shell, response.content, as_code=shown_as == "code",
                  out=options.get("out"))
        if status is not None and response.status == "ok" and response.stored:
            status.show()  # the worker updates this line when memory work is done

    def _check_budget(self, agent: Any, message: str) -> None:
        """Refuse the cell, before anything is sent, when it would pass the day's budget."""
        if not self.budget_tokens:
            return
        from ..model.metered import tokens_today

        used = tokens_today()
        with user_errors():
            system, history, user = agent.get_messages(message)
        chars = sum(len(m.content or "") for m in [system, *history, user] if m is not None)
        estimate = chars // 4 + 1  # ~4 characters a token, as the server's own estimate
        if used + estimate > self.budget_tokens:
            raise UsageError(
                f"Not sent: this cell needs ~{estimate:,} tokens and this kernel has used "
                f"{used:,} of its {self.budget_tokens:,}-token budget today (chat and "
                "background work). Raise it with %config AgentMagics.budget_tokens = N, "
                "or set it to 0 for no budget.")

    # --- %agent ---------------------------------------------------------------
    @no_var_expand
    @line_magic("agent")
    def agent_line(self, line: str) -> Any:
        """Inspect and manage what the agent stores: ``%agent`` alone lists the subcommands."""
        self._wait_for_preload()
        name, rest = opt.split_subcommand(line, list(COMMANDS))
        command = COMMANDS[name]
        usage = command_usage(name)  # that subcommand's only: the others are noise here
        if command.positional:
            rest = opt.leading_word(rest, command.positional)
        table = opt.table(command.options)
        options = opt.parse_options(rest, table, usage)
        opt.require(options, table, usage)
        with user_errors():
            return command.handler(self, options)


def updates_in_place(shell: Any) -> bool:
    """Can a display in this shell be updated in place (a streamed reply, the memory line)?

    A kernel's publisher (ipykernel) sends updates to the frontend, and a capture keeps
    them; IPython's terminal uses the base ``DisplayPublisher``, which prints every update
    again: a streamed reply showed its first part, then the whole text. There, replies
    are written to stdout as they arrive instead.
    """
    from IPython.core.displaypub import DisplayPublisher

    return type(getattr(shell, "display_pub", None)) is not DisplayPublisher


def start_preload(magics: AgentMagics, shell: Any) -> Preload:
    """The process's background imports (notebook/preload.py), started once: at once
    when the extension loads outside a cell (IPython's startup ``extensions``), else
    when the ``%load_ext`` cell has run, so that the rest of that cell (often more
    setup and imports) neither shares the interpreter with the thread nor imports
    alongside it."""
    first, later = first_cell_steps(location=lambda: magics.db_path)
    preload = runtime.shared("jobs", "preload", lambda: Preload(first, later))
    running_cell = getattr(getattr(shell, "displayhook", None), "exec_result", None)
    events = getattr(shell, "events", None)
    if events is not None:  # the later imports wait for the first cell, pause in cells
        for event, callback in (("pre_run_cell", preload.cell_started),
                                ("post_run_cell", preload.cell_ended)):
            if callback not in events.callbacks.get(event, []):  # once (a reload)
                events.register(event, callback)
    if running_cell is None or events is None:
        return preload.start()

    def after_the_cell() -> None:
        events.unregister("post_execute", after_the_cell)
        preload.start()

    events.register("post_execute", after_the_cell)
    return preload


def current_cell_id(shell: Any) -> str | None:
    """The id of the notebook cell being run, or None (a terminal, an old frontend).

    JupyterLab and Notebook 7 send it in the execute request's metadata (``cellId``).
    ipykernel 6 and 7 keep that request as ``kernel.get_parent("shell")`` (per thread
    context, so it is the right one even with concurrent cells); the shell's
    ``parent_header`` holds the same message. It comes from outside: only a short
    string is taken.
    """
    kernel = getattr(shell, "kernel", None)
    parent: Any = None
    get_parent = getattr(kernel, "get_parent", None)
    if callable(get_parent):
        try:
            parent = get_parent("shell")
        except Exception:  # noqa: BLE001 (an older kernel without channels: fall back)
            parent = None
    if not isinstance(parent, dict):
        parent = getattr(shell, "parent_header", None)
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    if isinstance(cell_id, str) and 0 < len(cell_id) <= MAX_CELL_ID:
        return cell_id
    return None


def _print_request(request: Any) -> None:
    from .context_view import as_text

    print(as_text(request.context(), "Sent to the model:"))


def unregister(shell: Any) -> None:
    """Remove ``%%agent`` and ``%agent`` from ``shell``."""
    magics = shell.magics_manager.magics
    magics["cell"].pop("agent", None)
    magics["line"].pop("agent", None)
    shell.configurables = [c for c in shell.configurables if not isinstance(c, AgentMagics)]
    completion.unregister(shell)
