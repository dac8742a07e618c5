"""The ``%agent`` subcommands: one table (name, options, help, handler); usage comes from it.

Adding a subcommand is one function and one row in ``COMMANDS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import UsageError

from . import options as opt

if TYPE_CHECKING:  # pydantic and the store are imported on first use, not by %load_ext
    from ..store import Store


class Notebook(Protocol):
    """What a subcommand needs of the magics: the store and the notebook's defaults."""

    session_id: str  # the kernel's own session
    user: str
    memory_wait: float  # seconds a read waits for the memory work queued for it
    prices: dict[str, Any]  # a user's model prices (USD per 1M tokens), over model/prices.py

    @property
    def store(self) -> Store: ...

    def cell_option_table(self) -> dict[str, opt.Option]: ...

    def catch_up_summary(self, session_id: str, user_id: str) -> None: ...


Handler = Callable[[Notebook, dict[str, Any]], Any]


class Command:
    """One ``%agent`` subcommand (a plain class, like ``options.Option``)."""

    __slots__ = ("handler", "help", "name", "options", "positional")

    def __init__(self, name: str, handler: Handler, options: tuple[opt.Option, ...] = (),
                 help: str = "", positional: str | None = None) -> None:  # noqa: A002
        self.name = name
        self.handler = handler
        self.options = options
        self.help = help
        self.positional = positional  # the option a leading bare or quoted word fills

    def usage(self) -> str:
        return " ".join([self.name, opt.usage_of(self.options)]).strip()


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def _store(nb: Notebook, options: dict[str, Any]) -> Store:
    """The store acting as the command's user (``user=``, else the notebook's): every
    read and write below is that user's, checked by the store itself."""
    return nb.store.as_user(options.get("user", nb.user))


def _all(options: dict[str, Any]) -> bool:
    return options.get("columns") == "all"


def sessions(nb: Notebook, options: dict[str, Any]) -> Any:
    from .frames import sessions_frame

    # A user sees their own sessions (and the ones nobody owns), never another user's.
    store = _store(nb, options)
    return sessions_frame(_frame(store.list_sessions(),
                                 ["session_id", "user_id", "agent_name", "model", "runs",
                                  "messages", "created_at", "updated_at", "session_name"]),
                          store.user_id, _all(options))


def _own_session(nb: Notebook, options: dict[str, Any]) -> str:
    """The session asked for, when it is the user's (StoreError otherwise)."""
    session = options.get("session", nb.session_id)
    _store(nb, options).usable_session(session)
    return session


def _known_session(nb: Notebook, options: dict[str, Any]) -> str:
    """The session asked for, when it exists and is the user's: a UsageError that says
    so otherwise (an unknown id shows as an error, not as an empty table)."""
    session = options.get("session", nb.session_id)
    store = _store(nb, options)
    user = store.user_id
    if store.usable_session(session) is not None:  # another user's: StoreError
        return session
    if "session" in options:
        raise UsageError(f"No session {session!r} for user {user!r}. "
                         "%agent sessions lists yours.")
    raise UsageError(f"No session {session!r} for user {user!r} yet: this kernel's session "
                     "starts with its first %%agent cell. Give session=ID "
                     "(%agent sessions lists yours).")


def history(nb: Notebook, options: dict[str, Any]) -> Any:
    store = _store(nb, options)
    if "at" in options:  # a search hit: its session, from 2 runs before to 2 after
        found = store.get_message(options["at"])
        if found is None:  # none, or of another user's session: the same answer
            raise UsageError(f"No message {options['at']!r} for user {store.user_id!r}.")
        rows = store.message_rows(found["session_id"])
        mine = next(r["run_seq"] for r in rows if r["message_id"] == options["at"])
        rows = [r for r in rows if abs(r["run_seq"] - mine) <= 2]
        session = found["session_id"]
    else:
        session = _known_session(nb, options)
        rows = store.message_rows(session)
        if not rows:
            raise UsageError(f"Session {session!r} of user {store.user_id!r} "
                             "has no messages.")
    from .frames import history_frame

    return history_frame(rows, list(HISTORY_COLUMNS), _all(options), session)


# %agent history columns=all; the default is run, role, content, time (frames.py).
HISTORY_COLUMNS = ("message_id", "run_seq", "seq", "role", "content", "status", "name",
                   "tool_calls", "tool_call_id", "run_id", "created_at", "edited_at")


def _wait_for_memory_work(session_id: str | None, user_id: str | None, timeout: float,
                          usage: bool = False) -> None:
    # Read-your-writes: a read sees the memory work already queued for what it shows.
    from ..memory import wait_for_memory_work

    wait_for_memory_work(session_id, user_id, timeout, usage)


def memories(nb: Notebook, options: dict[str, Any]) -> Any:
    from .frames import memories_frame

    store = _store(nb, options)
    _wait_for_memory_work(None, store.user_id, nb.memory_wait)
    found = store.user_memories(include_deleted=options.get("deleted", False))
    return memories_frame(_frame([m.model_dump() for m in found],
                                 ["memory_id", "user_id", "memory", "topics", "input",
                                  "session_id", "created_at", "updated_at", "deleted_at"]),
                          store.user_id, _all(options))


def summary(nb: Notebook, options: dict[str, Any]) -> Any:
    session = _known_session(nb, options)
    # Summaries are made lazily: reading one brings it up to the session's last run.
    nb.catch_up_summary(session, options.get("user", nb.user))
    found = _store(nb, options).list_summaries(session)
    from .frames import summary_frame

    return summary_frame(_frame([s.model_dump() for s in found],
                                ["session_id", "version", "summary", "topics",
                                 "through_run_seq", "created_at"]), session, _all(options))


def forget(nb: Notebook, options: dict[str, Any]) -> None:
    store = _store(nb, options)
    user = store.user_id
    if "purge" in options:
        purge(nb, options)
        return
    if "session" in options or "message" in options:
        raise UsageError("forget session=ID / message=ID removes text for good: add "
                         "purge=yes (and confirm=yes). " + command_usage("forget"))
    if "memory_id" in options:
        store.delete_memory(options["memory_id"], actor="user")
        print(f"Forgot memory {options['memory_id']} of user {user!r} (undo from the "
              "panel or memory_events).")
        return
    if "user" not in options:
        raise UsageError("forget needs memory_id=ID, or user=ID confirm=yes. "
                         + command_usage("forget"))
    if options.get("confirm") != "yes":
        n = len(store.user_memories())
        raise UsageError(f"This forgets all {n} memories of user {user!r} (soft delete, "
                         "undoable). Add confirm=yes to do it.")
    n = store.delete_user_memories(actor="user")
    print(f"Forgot {n} memories of user {user!r}.")


def purge(nb: Notebook, options: dict[str, Any]) -> None:
    """``forget ... purge=yes``: a user's data, a session or one message, gone for good."""
    if "memory_id" in options:
        raise UsageError("purge=yes takes user=ID, session=ID or message=ID, not memory_id "
                         "(a memory derived from a purged run goes with it). "
                         + command_usage("forget"))
    if "session" in options and "message" in options:
        raise UsageError("purge=yes takes session=ID or message=ID, not both. "
                         + command_usage("forget"))
    if "session" not in options and "message" not in options and "user" not in options:
        raise UsageError("purge=yes needs what to purge: user=ID (all of a user's data), "
                         "session=ID or message=ID. " + command_usage("forget"))
    store = _store(nb, options)
    user = store.user_id
    session, message = options.get("session"), options.get("message")
    # Memory work queued for this user or session would write after the purge.
    found = store.get_message(message) if message else None
    _wait_for_memory_work(found["session_id"] if found else session, user, nb.memory_wait)
    what = (f"message {message!r}" if message else f"session {session!r}" if session
            else "all data") + f" of user {user!r}"
    counts = store.purge(session_id=session, message_id=message,
                         dry_run=options.get("confirm") != "yes")
    said = ", ".join(f"{n} {name}" for name, n in counts.items())
    if options.get("confirm") != "yes":
        raise UsageError(f"This purges {what} for good (not undoable): {said}, with their "
                         "search index rows, stored requests and audit values. Add "
                         "confirm=yes to do it.")
    from .. import changes

    changes.notify(changes.Change("edit", session, user, store.path))  # open panels reload
    print(f"Purged {what}: {said}. The text is gone from the database files too.")


def export(nb: Notebook, options: dict[str, Any]) -> str:
    from ..store.archive import format_of, write_archive

    format_of(options["path"])  # a path we cannot write is said before anything is read

    # session=: that session (of user=, else the notebook's user); user= alone: all of
    # that user's data; neither: the kernel's session.
    session = options.get("session", None if "user" in options else nb.session_id)
    rows = _store(nb, options).export_rows(session_id=session)
    where = write_archive(rows, options["path"])
    counts = ", ".join(f"{len(found)} {table}" for table, found in rows.items() if found)
    print(f"Exported {counts or 'nothing'} to {where}.")
    return where


def import_(nb: Notebook, options: dict[str, Any]) -> dict[str, int]:
    from ..store.archive import read_archive

    added = _store(nb, options).import_rows(read_archive(options["path"]))
    counts = ", ".join(f"{n} {table}" for table, n in added.items() if n)
    print(f"Imported {counts or 'nothing new'} from {options['path']}.")
    return added


def search(nb: Notebook, options: dict[str, Any]) -> Any:
    from ..ranked import search as search_store

    if not options.get("query", "").strip():
        raise UsageError('search needs words: %agent search "words" [user=ID] [session=ID] '
                         "[in=messages,memories,summaries] [limit=20]")
    from .frames import search_frame

    user = _store(nb, options).user_id
    found = search_store(options["query"], user_id=user, session_id=options.get("session"),
                         kinds=options.get("in", ("messages", "memories", "summaries")),
                         limit=options.get("limit", 20), store=nb.store)
    return search_frame(found, options["query"], user, _all(options))


def usage(nb: Notebook, options: dict[str, Any]) -> Any:
    """The user's model calls, or their sums by session, model, day or kind; a chart."""
    if options.get("plot"):
        try:
            import matplotlib.pyplot  # noqa: F401 (checked before anything is read)
        except ImportError:
            raise UsageError('plot=on needs matplotlib: pip install "jupyter_agentmem[plot]" '
                             "(or pip install matplotlib), then restart the kernel.") from None
    from ..model.prices import checked_table
    from .usage import usage_frame

    store = _store(nb, options)
    user = store.user_id
    _wait_for_memory_work(None, user, nb.memory_wait, usage=True)  # its ledger rows
    by = {"session": "session_id"}.get(options.get("by"), options.get("by"))
    if options.get("plot") and by is None:
        by = "day"
    prices = {**checked_table(nb.prices), **options.get("prices", {})}
    names = ({s["session_id"]: s.get("session_name")
              for s in store.list_sessions()} if by == "session_id" else {})
    shown, _ = usage_frame(store.usage_rows(), user, by, prices, names,
                           _all(options))
    if options.get("plot") and by is not None:
        from .usage_chart import draw

        draw(shown, by, user)
    return shown


def prices_option(name: str, value: str) -> dict[str, Any]:
    """``prices=MODEL:IN/OUT,...``: USD per 1M input and output tokens."""
    from ..model.prices import parse_prices

    try:
        return parse_prices(value)
    except ValueError as exc:
        raise UsageError(f"{name}={opt.shown(value)} is not valid: {exc}.") from None


def context(nb: Notebook, options: dict[str, Any]) -> None:
    from .context_view import ContextView, as_json

    store = _store(nb, options)
    # What a run sent holds its session's history, the user's memories and recalled
    # exchanges: shown only to the session's user (the store reads it for them only).
    session = _own_session(nb, options) if "run" not in options else None
    run_id = options.get("run") or store.last_run_id(session)
    if run_id is None:
        raise UsageError(f"Session {session!r} has no runs yet: nothing to show. "
                         "Give run=ID or session=ID.")
    found = store.run_context(run_id)
    if found is None:
        raise UsageError(f"No stored request for run {run_id!r} for user {store.user_id!r} "
                         "(an unknown run, another user's, or one stored before requests "
                         "were kept).")
    if options.get("json"):
        print(as_json(found))
        return
    from IPython.display import display

    display(ContextView(found, run_id))  # a stacked bar in a notebook, text in a terminal


def panel(nb: Notebook, options: dict[str, Any]) -> Any:
    from .panel import panel as open_panel

    return open_panel(session_id=_own_session(nb, options),
                      user_id=options.get("user", nb.user), store=nb.store,
                      memory_wait=nb.memory_wait, catch_up=nb.catch_up_summary)


HELP_WIDTH = 100  # the help wraps here (IPython's and the project's line length)


def help_text(cell_options: dict[str, opt.Option]) -> str:
    """Every cell option and every subcommand with its options, from the parser's tables,
    as two aligned columns per table: what to write, and what it does (wrapped under
    itself)."""
    cell = [("  " + o.name + "=" + o.shape, o.help) for o in cell_options.values()]
    line: list[tuple[str, str]] = []
    for command in COMMANDS.values():
        line.append(("  " + command.name, command.help))
        line += [("    " + o.name + "=" + o.shape, o.help) for o in command.options]
    return "\n".join([
        "%%agent [options], then your message in the cell. Options:", *_columns(cell), "",
        "%agent <subcommand> [options]. Subcommands:", *_columns(line), "",
        "Defaults: %config AgentMagics.<name> = value (see %config AgentMagics)."])


def _columns(rows: list[tuple[str, str]]) -> list[str]:
    import textwrap

    column = max(len(what) for what, _ in rows) + 2
    lines = []
    for what, does in rows:
        wrapped = textwrap.wrap(does, HELP_WIDTH - column) or [""]
        lines.append((what.ljust(column) + wrapped[0]).rstrip())
        lines += [" " * column + more for more in wrapped[1:]]
    return lines


def help_command(nb: Notebook, options: dict[str, Any]) -> None:
    print(help_text(nb.cell_option_table()))


SESSION = opt.Option("session", opt.non_empty, "ID", "a session id (default: the kernel's)")
COLUMNS = opt.Option("columns", opt.choice("all"), "all", "every column, ids whole")
USER = opt.Option("user", opt.non_empty, "ID", "a user id (default: AgentMagics.user)")
EXPORT_PATH = opt.Option("path", opt.non_empty, "FILE",
                         "where to write: .md (a transcript to read), .jsonl or .parquet",
                         required=True)
IMPORT_PATH = opt.Option("path", opt.non_empty, "FILE",
                         "a .jsonl file or .parquet folder written by export (not .md)",
                         required=True)

COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("sessions", sessions, (USER, COLUMNS),
            "a user's sessions, with run and message counts"),
    Command("history", history,
            (SESSION, USER, opt.Option("at", opt.non_empty, "ID", "a message id (from search)"),
             opt.Option("columns", opt.choice("all"), "all",
                        "every column (default: run, role, content, time)")),
            "a session's messages"),
    Command("memories", memories,
            (USER, opt.Option("deleted", opt.on_off, "on|off", "include deleted ones"),
             COLUMNS),
            "a user's memories"),
    Command("summary", summary, (SESSION, USER, COLUMNS), "a session's summary versions"),
    Command("forget", forget,
            (opt.Option("memory_id", opt.non_empty, "ID", "one memory"), USER,
             opt.Option("purge", opt.choice("yes"), "yes",
                        "remove the text for good: the user's, a session's or a message's"),
             opt.Option("session", opt.non_empty, "ID", "with purge=yes: one session"),
             opt.Option("message", opt.non_empty, "ID", "with purge=yes: one message"),
             opt.Option("confirm", opt.any_text, "yes",
                        "needed to forget all of a user's, and to purge")),
            "soft-delete one memory or all of a user's (undoable); purge=yes: remove a "
            "user's, a session's or a message's text for good"),
    Command("panel", panel, (SESSION, USER), "the editable panel"),
    Command("export", export,
            (SESSION, opt.Option("user", opt.non_empty, "ID",
                                 "whose (alone: every session of that user)"), EXPORT_PATH),
            "a session's or a user's rows: .md transcript, .jsonl rows, .parquet folder"),
    Command("import", import_,
            (IMPORT_PATH, opt.Option("user", opt.non_empty, "ID", "whose rows they become "
                                     "(default: AgentMagics.user); another user's are refused")),
            "a user's rows from a .jsonl or .parquet export (ids kept)"),
    Command("usage", usage,
            (opt.Option("by", opt.choice("session_id", "session", "model", "day", "kind"),
                        "session|model|day|kind", "sum the calls by this"),
             opt.Option("plot", opt.on_off, "on|off", "draw it (needs matplotlib)"), USER,
             opt.Option("prices", prices_option, "MODEL:IN/OUT,...",
                        "USD per 1M input/output tokens, over the built-in table"),
             COLUMNS),
            "a user's model calls (chat, memory, summary): tokens, cost; sums; a chart"),
    Command("search", search,
            (opt.Option("query", opt.any_text, '"WORDS"', "what to look for (first word)",
                        required=True), USER, SESSION,
             opt.Option("in", opt.kinds("messages", "memories", "summaries"),
                        "messages,memories,summaries", "where to look"),
             opt.Option("limit", opt.count(1, 10_000), "N", "how many hits (default 20)"),
             COLUMNS),
            "messages, memories and summaries of a user that match, ranked (BM25)",
            positional="query"),
    Command("context", context,
            (opt.Option("run", opt.non_empty, "ID", "a run id (default: the session's last)"),
             SESSION, USER, opt.Option("json", opt.on_off, "on|off", "the messages as sent, JSON")),
            "what the model saw: the request sent and its token split"),
    Command("help", help_command, (), "every option and subcommand"),
)}


def command_usage(name: str) -> str:
    """One subcommand's usage line: what its errors end with."""
    return "Usage: %agent " + COMMANDS[name].usage()
