"""``Agent``: one run of the conversation loop, with phidata's names.

No IPython here: the notebook layer passes a renderer (``render.ReplyRenderer``) and
reads the ``RunResponse``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

from . import changes
from .memory.agent_memory import AgentMemory
from .memory.history import history_messages
from .memory.recall import Exchange
from .memory.request import MESSAGE_OVERHEAD, Request, calibration, cut_to_tokens, fit_history
from .model import ChatModel, ModelError, OpenAIChat
from .model.metered import MeteredModel
from .render import ReplyRenderer
from .store import DEFAULT_USER, AgentStorage, DuckDbStore, Store, StoreError
from .store.values import check_id, check_text
from .types import AgentSession, Message, ModelCall, Run, RunResponse, SessionSummary, new_id

MAX_BUDGET_RUNS = 256  # runs a token budget may look back over (the summary covers more)
# With a token budget, recall picks its exchanges before the history window is known: a
# few spare candidates replace those the window then carries anyway.
RECALL_SPARE = 8
log = logging.getLogger(__name__)  # debug_mode=True shows its debug lines

Delta = Callable[[str], None]


class Agent:
    """An LLM agent whose chat history, user memories and summaries persist in a store."""

    def __init__(
        self,
        model: ChatModel | None = None,
        storage: AgentStorage | None = None,
        memory: AgentMemory | None = None,
        add_history_to_messages: bool = False,
        num_history_responses: int = 3,
        description: str | None = None,
        instructions: Sequence[str] | str | None = None,
        session_id: str | None = None,
        user_id: str | None = None,
        name: str | None = None,
        markdown: bool = False,
        debug_mode: bool = False,
        add_chat_history_to_messages: bool | None = None,
        session_name: str | None = None,
    ) -> None:
        self.model = model if model is not None else OpenAIChat(id="gpt-4o")
        self._storage = storage
        self.memory = memory if memory is not None else AgentMemory()
        # phidata's alias of the same setting: either spelling sets it.
        self.add_history_to_messages = (add_history_to_messages
                                        if add_chat_history_to_messages is None
                                        else add_chat_history_to_messages)
        self.num_history_responses = num_history_responses
        self.description = description
        self.instructions = instructions
        self.session_id = session_id or new_id()
        self.user_id = user_id
        self.name = name
        self.markdown = markdown
        # The notebook cell this agent answers for (set by %%agent): a re-run of a cell
        # supersedes its earlier run unless ``supersede_reruns`` is False (rerun=append).
        self.cell_id: str | None = None
        self.supersede_reruns = True
        # A token budget for the whole prompt (history=8k): as many recent runs as fit,
        # the summary covering the rest. None: num_history_responses runs.
        self.history_tokens: int | None = None
        self._owner_checked: tuple[str, str] | None = None
        self.debug_mode = debug_mode
        if debug_mode:
            from .render.debug_log import enable_debug_log

            enable_debug_log()
        self.session_name = session_name
        self.run_id: str | None = None  # the last run's id (phidata's), None before one
        # Without storage the session lives in a private in-memory DuckDB.
        store: Store = storage.store if storage is not None else DuckDbStore(None)
        self.memory.attach(self, store)

    @property
    def storage(self) -> AgentStorage | None:
        """phidata's storage, its calls acting as this agent's user."""
        if self._storage is None:
            return None
        return self._storage.for_user(self.effective_user_id)  # type: ignore[return-value]

    @storage.setter
    def storage(self, value: AgentStorage | None) -> None:
        self._storage = value

    @property
    def store(self) -> Store:
        """The sessions' store, acting as this agent's user (every read and write of
        the phidata API goes through it: ownership is the store's to check)."""
        return self.memory.session_store

    @property
    def effective_user_id(self) -> str:
        return self.user_id or self.memory.configured_user_id or DEFAULT_USER

    @property
    def add_chat_history_to_messages(self) -> bool:
        """phidata's other name of ``add_history_to_messages``."""
        return self.add_history_to_messages

    @add_chat_history_to_messages.setter
    def add_chat_history_to_messages(self, value: bool) -> None:
        self.add_history_to_messages = value

    # --- sessions (phidata's names) -------------------------------------------
    def new_session(self) -> None:
        """Start a new session: a new ``session_id``, its row written now (with storage)."""
        self.memory.clear()
        self.session_id = new_id()
        self.load_session(force=True)

    def load_session(self, force: bool = False) -> str | None:
        """Read the session from storage, creating its row if missing; its id."""
        if self.storage is not None and self.read_from_storage() is None:
            self.write_to_storage()
        return self.session_id

    create_session = load_session

    def read_from_storage(self) -> AgentSession | None:
        """The stored session in phidata's shape (``None`` without storage or row); takes
        ``session_name`` from it when the agent has none."""
        if self.storage is None:
            return None
        self.memory.reload()
        self.memory.catch_up_summary()  # the row carries the summary, made lazily
        found = self.storage.read(self.session_id, self.effective_user_id)
        if found is not None and self.session_name is None:
            self.session_name = (found.session_data or {}).get("session_name")
        return found

    def write_to_storage(self) -> AgentSession | None:
        """Write the session's row (ids, name) now; runs are stored turn by turn."""
        if self.storage is None:
            return None
        self.store.save_session(self.session_id, self.name, self.session_name)
        return self.read_from_storage()

    def get_agent_session(self) -> AgentSession:
        from .store.phidata_rows import agent_session

        found = agent_session(self.store, self.session_id, self.memory.memory_store)
        return found if found is not None else AgentSession(
            session_id=self.session_id, user_id=self.effective_user_id)

    def rename_session(self, session_name: str) -> None:
        self.read_from_storage()
        self.session_name = session_name
        self.write_to_storage()

    def delete_session(self, session_id: str) -> None:
        """Delete a stored session. As phidata's, the agent's own session is written back
        at once (its row, empty): use ``new_session()`` first to leave it."""
        if self.storage is None:
            return
        self.store.delete_session(session_id)  # another user's: StoreError, nothing gone
        self.write_to_storage()

    def get_chat_history(self, num_chats: int | None = None) -> str:
        """phidata's JSON list ``[user, assistant, ...]`` of the last ``num_chats`` pairs
        (all when ``None``); ``""`` when there are none."""
        import json

        pairs = self.memory.get_message_pairs()
        if num_chats is not None:
            pairs = pairs[-num_chats:] if num_chats > 0 else []
        history = [m.to_openai() for pair in pairs for m in pair]
        return json.dumps(history) if history else ""

    # --- building the request -------------------------------------------------
    def get_messages(self, message: str) -> tuple[Message | None, list[Message], Message]:
        """The system message, the history and the new user message for one run."""
        request = self.build_request(message)
        return request.system, request.history, request.message

    def build_request(self, message: str) -> Request:
        """The request of one run, in parts (nothing is sent or stored).

        Recall first: it needs nothing of the memory work queued after the last run,
        which the memories then wait for (``AgentMemory.prompt_memories``)."""
        user_message = Message(role="user", content=message)
        if self.history_tokens and self.add_history_to_messages:
            pool = self._recalled(message, (), spare=RECALL_SPARE)
            return self._request_within_budget(self._memories(message), user_message,
                                               self.history_tokens, pool)
        history_runs = self._history_runs() if self.add_history_to_messages else []
        recalled = self._recalled(message, history_runs)
        memories = self._memories(message)
        summary = None
        if self.memory.create_session_summary:
            summary = self._summary_outside_window(history_runs)
        return Request(self.description, self.instructions, memories, summary,
                       history_messages(history_runs), user_message, recalled=recalled)

    def _memories(self, message: str) -> list[Any]:
        return (self.memory.prompt_memories(self.effective_user_id, message)
                if self.memory.create_user_memories else [])

    def _recalled(self, message: str, window: Sequence[Run], spare: int = 0
                  ) -> list[Exchange]:
        """recall=N: the user's earlier exchanges for ``message``, none of ``window``'s."""
        skip_cell = ((self.session_id, self.cell_id)
                     if self.cell_id is not None and self.supersede_reruns else None)
        if self.memory.recall:
            # Recall must see the last runs of other sessions, and this session's too when
            # the prompt carries no history (queued for their commit: Store.settle_runs).
            own = bool(window) or bool(self.history_tokens and self.add_history_to_messages)
            self.store.settle_runs(self.session_id if own else None)
        return self.memory.recalled_exchanges(self.effective_user_id, message,
                                              {r.run_id for r in window}, skip_cell, spare)

    def _request_within_budget(self, memories: list[Any], user_message: Message,
                               budget: int, pool: list[Exchange]) -> Request:
        """As many recent runs as fit in ``budget`` tokens (the server's count, as
        calibrated), the summary covering the rest; an oversize message is cut.

        Recalled exchanges (recall=N) are given room first, the least relevant dropped
        until the message fits; one that the history then carries anyway is replaced by
        the next candidate while the whole still fits.
        """
        budget = int(budget / calibration().ratio(self.model.id))
        summary = (self.store.latest_summary(self.session_id)
                   if self.memory.create_session_summary else None)
        recalled = pool[:self.memory.recall]

        def request(history: list[Message], recalled: list[Exchange]) -> Request:
            return Request(self.description, self.instructions, memories, summary, history,
                           user_message, recalled=recalled)

        base = request([], recalled)
        while recalled and base.estimated_total > budget:
            recalled = recalled[:-1]
            base = request([], recalled)
        if base.estimated_total > budget:  # the message alone does not fit: cut it
            room = budget - (base.estimated_total - base.tokens["message"]) - MESSAGE_OVERHEAD
            cut = Message(role="user", content=cut_to_tokens(user_message.content or "",
                                                             max(0, room)))
            return Request(self.description, self.instructions, memories, summary, [],
                           user_message, sent_message=cut)
        room = budget - base.estimated_total
        asked = 16
        while True:  # the newest runs first; more only while all of them fit
            runs = self._history_runs(asked)
            picked = fit_history(runs, room)
            if len(picked) < len(runs) or len(runs) < asked or asked >= MAX_BUDGET_RUNS:
                break
            asked *= 4
        if len(picked) == len(runs) and len(runs) < asked:
            summary = None  # every run fits: nothing for a summary to cover
        elif self.memory.create_session_summary and picked and (
                summary is None or summary.through_run_seq < (picked[0].seq or 0) - 1):
            # Fewer runs fit than the window the summary is kept for: it must cover the
            # runs just before the ones sent, so it is read (brought up to date: the
            # summary work queued for them waited for) now.
            summary = self.memory.summary
        window = {r.run_id for r in picked}
        recalled = [e for e in pool if e.run_id not in window][:len(recalled)]
        final = request(history_messages(picked), recalled)
        while recalled and final.estimated_total > budget:
            recalled = recalled[:-1]
            final = request(history_messages(picked), recalled)
        return final

    def _history_runs(self, n: int | None = None) -> list[Run]:
        n = self.num_history_responses if n is None else n
        if self.cell_id is None or not self.supersede_reruns:
            return self.store.recent_runs(self.session_id, n)
        # This run replaces the cell's earlier one (at most one is live): leave it out.
        runs = self.store.recent_runs(self.session_id, n + 1)
        return [r for r in runs if r.cell_id != self.cell_id][-n:] if n else []

    def _summary_outside_window(self, history_runs: list[Run]) -> SessionSummary | None:
        # A summary is only worth its tokens when some runs fall outside the window.
        if self.add_history_to_messages and (
                len(history_runs) < self.num_history_responses
                or self.store.count_runs(self.session_id) <= len(history_runs)):
            return None
        summary = self.store.latest_summary(self.session_id)
        after = summary.through_run_seq if summary is not None else -1
        if not history_runs:  # it must cover every run: does it hold the last one?
            last = self.store.recent_runs(self.session_id, 1)
            lacking = bool(last) and (last[0].seq or 0) > after
        else:
            first = history_runs[0].seq or 0
            lacking = after < first - 1 and any(
                (r.seq or 0) < first for r in self.store.runs_after(self.session_id, after, 1))
        if lacking:
            # It lacks a run before the window (its work still queued or running, its
            # versions made from a purged run gone, or its work failed): read it brought
            # up to date now (the turn does not wait for summary work otherwise).
            return self.memory.summary
        return summary

    # --- one run --------------------------------------------------------------
    def respond(self, message: str, on_delta: Delta | None = None,
                on_request: Callable[[Request], None] | None = None) -> RunResponse:
        """Run one exchange; stream text to ``on_delta`` when given.

        ``on_request`` sees the request just before it is sent (``debug=on``).

        A failed model call never raises here: the run is stored as failed with the
        user's message kept, and the response says why. KeyboardInterrupt stores the
        run as cancelled and is re-raised.
        """
        turn = self._turn(message, on_delta is not None, on_request)
        try:
            delta = next(turn)
            while True:
                try:
                    on_delta(delta)  # type: ignore[misc] (a delta comes only when streaming)
                except BaseException as exc:  # noqa: BLE001 (the turn keeps the run, re-raises)
                    delta = turn.throw(exc)
                else:
                    delta = next(turn)
        except StopIteration as done:
            return done.value

    def _turn(self, message: str, stream: bool,
              on_request: Callable[[Request], None] | None = None
              ) -> Generator[str, None, RunResponse]:
        """One exchange, as a generator: the reply's deltas (when ``stream``), then the
        ``RunResponse`` as its return value.

        Whatever stops it once the model was called keeps the run: an error raised (or
        thrown in at a delta) as ``error``, KeyboardInterrupt as ``cancelled`` (re-raised),
        and the generator closed at a delta (its reader stopped: ``break``, ``close()``,
        garbage collection) as ``cancelled``, with the reply as far as it was yielded.
        """
        user_id = self.effective_user_id
        # Refused before anything is sent or stored (StoreError: the magic's UsageError;
        # the cell still holds the message), the same on every backend.
        check_id(self.session_id, "the session id")
        check_id(user_id, "the user id")
        check_text(message, "the message")
        self._check_owner(user_id)
        self.memory.before_run(self.session_id, user_id)
        request = self.build_request(message)
        user_message = request.message
        self.memory.system_message = request.system
        run = Run(session_id=self.session_id, model=self.model.id, context=request.context(),
                  cell_id=self.cell_id, supersede_cell=self.supersede_reruns)
        if on_request is not None:
            on_request(request)
        started = time.perf_counter()
        # The user's message is kept before the model is called (a file write, no
        # commit: the first token never waits for the disk); should the process die
        # before the run is stored, the run is kept as interrupted with this message.
        run.messages = [user_message]
        self.store.stage_run(run)
        reply: Message | None = None
        streamed: list[str] = []  # what arrived before a failure is kept with the run
        try:
            reply, usage = yield from self._call_model(run.context.messages, stream, streamed,
                                                       self._staged_first(run))
            run.input_tokens, run.output_tokens = usage
            run.context = request.context(run.input_tokens)
            calibration().observe(self.model.id, request.estimated_total, run.input_tokens)
        except (KeyboardInterrupt, GeneratorExit) as exc:
            run.status, run.error = "cancelled", (
                "interrupted by the user" if isinstance(exc, KeyboardInterrupt)
                else "the caller stopped reading the streamed reply")
            self._store_run(run, user_message, reply, streamed, started, user_id)
            raise
        except Exception as exc:  # noqa: BLE001 (any failure: the run is kept as failed)
            text = str(exc) if isinstance(exc, ModelError) else (
                f"The run failed: {type(exc).__name__}: {exc}")
            run.status, run.error = "error", self.model.scrub(text)
        storage_error = self._store_run(run, user_message, reply, streamed, started, user_id)
        if run.status == "ok" and storage_error is None:
            self.memory.after_run(run, user_id, self.model)
        return RunResponse(
            content=reply.content if reply is not None and run.status == "ok" else None,
            run_id=run.run_id, session_id=self.session_id, status=run.status,
            model=run.model, input_tokens=run.input_tokens,
            error=" ".join(e for e in (run.error, storage_error) if e) or None,
            output_tokens=run.output_tokens, latency_ms=run.latency_ms,
            messages=run.messages, stored=storage_error is None)

    def _staged_first(self, run: Run) -> Delta:
        """Keeps each piece of the reply with the staged run before it is shown (a file
        write, ~10 us against the openai client's ~125 us per chunk): a reply the user
        has seen outlives a kill of the process."""
        stage_delta = self.store.stage_delta

        def staged(delta: str) -> None:
            stage_delta(run, delta)

        return staged

    def _check_owner(self, user_id: str) -> None:
        """``StoreError`` when the session belongs to another user (checked once per
        agent, session and user: a session's owner never changes once set)."""
        if self._owner_checked != (self.session_id, user_id):
            info = self.store.usable_session(self.session_id)
            if info is not None and info.user_id == user_id:
                self._owner_checked = (self.session_id, user_id)

    def _store_run(self, run: Run, user_message: Message, reply: Message | None,
                   streamed: list[str], started: float, user_id: str) -> str | None:
        """Append the run (one transaction); return why it could not be, or None."""
        run.latency_ms = (time.perf_counter() - started) * 1000
        if reply is None and streamed:
            reply = Message(role="assistant", content="".join(streamed))
        run.messages = [user_message] + ([reply] if reply is not None else [])
        try:
            self.store.append_run(run)
        except Exception as exc:  # noqa: BLE001 (the reply is still shown; the user is told)
            return f"The run could not be stored ({type(exc).__name__}: {exc})."
        changes.notify(changes.Change("run", self.session_id, user_id, self.store.path))
        return None

    def _call_model(self, messages: list[dict[str, Any]], stream: bool, streamed: list[str],
                    keep: Delta) -> Generator[str, None,
                                              tuple[Message, tuple[int | None, int | None]]]:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("---------- %s Response Start ----------", self.model.id)
            for sent in messages:
                log.debug("============== %s ==============\n%s", sent["role"], sent.get("content"))
        out = yield from self._call_model_once(messages, stream, streamed, keep)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("============== assistant ==============\n%s", out[0].content)
            log.debug("* Tokens:  input=%s, output=%s", *out[1])
            log.debug("---------- %s Response End ----------", self.model.id)
        return out

    def _call_model_once(self, messages: list[dict[str, Any]], stream: bool, streamed: list[str],
                         keep: Delta) -> Generator[str, None,
                                                   tuple[Message, tuple[int | None, int | None]]]:
        # Metered: the chat call counts toward this kernel's tokens of the day (the
        # ledger row of a chat call is its run).
        model = MeteredModel(self.model, "chat", _kept_as_run)
        if not stream:
            out = model.response(messages)
        else:
            answer = model.response_stream(messages)
            deltas = iter(answer)
            try:
                for delta in deltas:
                    streamed.append(delta)
                    keep(delta)  # kept with the staged run before it is shown
                    yield delta
            finally:
                # Left early (an error, Ctrl-C, the reader gone): end the model's stream
                # now rather than when the garbage collector finds it.
                close = getattr(deltas, "close", None)
                if close is not None:
                    close()
            out = answer.response
        # The agent offers the model no tools: stray tool calls are not kept, since
        # history holding them without their results makes the next request invalid.
        reply = Message(role="assistant", content=out.content or "")
        return reply, (out.input_tokens, out.output_tokens)

    def run(self, message: str, stream: bool = False) -> RunResponse | Iterator[RunResponse]:
        """phidata's ``run``: a ``RunResponse``, or chunks of one when ``stream=True``.

        Raises ``ModelError`` when the model call failed (the run is stored as failed),
        ``StoreError`` when the run could not be stored.
        """
        if stream:
            return self._run_stream(message)
        response = self.respond(message)
        self.run_id = response.run_id
        return _checked(response)

    def _run_stream(self, message: str) -> Iterator[RunResponse]:
        # The turn runs in the caller's thread, a delta at a time: whatever stops the
        # caller reaching the end (break, Ctrl-C, an error, the generator dropped) reaches
        # the turn, which keeps the run as cancelled with what was read.
        turn = self._turn(message, stream=True)
        try:
            delta = next(turn)
            while True:
                try:
                    yield RunResponse(content=delta, run_id="", session_id=self.session_id)
                except GeneratorExit:
                    turn.close()  # the turn keeps the run as cancelled
                    raise
                except BaseException as exc:  # noqa: BLE001 (thrown in: the turn keeps it)
                    delta = turn.throw(exc)
                else:
                    delta = next(turn)
        except StopIteration as done:
            final: RunResponse = done.value
        self.run_id = final.run_id
        _checked(final)

    def print_response(self, message: str, stream: bool = False,
                       markdown: bool | None = None,
                       renderer: ReplyRenderer | None = None,
                       show_message: bool = True, console: Any = None) -> None:
        """Show the reply in phidata's Message / Response (1.2s) panels (Markdown when
        ``markdown``): in a notebook as one HTML display updated while it streams, in a
        terminal drawn with rich (on ``console``, a ``rich.console.Console``, when given).

        Returns None, as phidata's does: a notebook cell ending in ``print_response``
        shows the reply once, not a ``RunResponse`` repr under it. Use ``run`` for the value.
        ``renderer`` replaces the default display.
        """
        as_markdown = self.markdown if markdown is None else markdown
        if renderer is None:
            from .render import in_notebook

            if in_notebook() and console is None:
                from .render.panels import PanelsView

                renderer = PanelsView(message, markdown=as_markdown, show_message=show_message)
            else:
                from .render.terminal import TerminalReply

                renderer = TerminalReply(message, markdown=as_markdown,
                                         show_message=show_message, console=console,
                                         stream=stream)
        response = self.respond(message, on_delta=renderer.add if stream else None)
        self.run_id = response.run_id
        renderer.finish(response)


def _kept_as_run(call: ModelCall) -> None:
    """A chat call's ledger row is its run (model, tokens, latency): nothing more to keep."""


def _checked(response: RunResponse) -> RunResponse:
    """The response of a run that worked and was stored; else the matching error."""
    if not response.stored:
        raise StoreError(response.error or "the run could not be stored")
    if response.status != "ok":
        raise ModelError(response.error or "the model call failed")
    return response
