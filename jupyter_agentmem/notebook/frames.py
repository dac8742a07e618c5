"""The DataFrames ``%agent`` returns: plain DataFrames for code, designed on screen.

A ``ShownFrame`` is a ``pandas.DataFrame`` whose only difference is how IPython shows
it: ``_repr_html_`` (a notebook) and ``_repr_pretty_`` (a terminal, and the text/plain
of a notebook output) go through its view (``TableView`` here, ``ConversationView`` for
``%agent history``). Its columns and values are the ones code reads; ``_constructor`` is
plain ``DataFrame``, so anything derived from it (a filter, ``.copy()``, a groupby) is an
ordinary DataFrame that pandas shows as usual (docs/architecture.md says why a subclass).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from . import display_values as shown
from .display_values import MAX_ROWS, Column, inferred


class TableView:
    """How a ``ShownFrame`` is drawn as a table: which columns, in which order, how."""

    def __init__(self, columns: Sequence[Column], *, caption: str = "", empty: str = "",
                 terms: Iterable[str] = (), every_column: bool = False,
                 hidden: Iterable[str] = (), latest: bool = False) -> None:
        self.columns = tuple(columns)
        self.caption = caption  # one line above the table (plain text: escaped when drawn)
        self.empty = empty  # said instead of an empty table
        self.terms = frozenset(terms)  # words a snippet column marks
        self.every_column = every_column  # columns=all: every column, ids whole
        self.hidden = frozenset(hidden)  # columns of the value left out on purpose
        self.latest = latest  # a long frame (oldest first) is drawn by its last rows

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def drawn(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
        """The rows drawn (at most ``MAX_ROWS``) and the caption, which says so."""
        rows = frame.iloc[-MAX_ROWS:] if self.latest else frame.iloc[:MAX_ROWS]
        which = "last" if self.latest else "first"
        return rows, shown.rows_caption(self.caption, len(rows), len(frame), which)

    def visible(self, frame: pd.DataFrame) -> list[Column]:
        """The columns drawn: the described ones the frame has (optional ones only when
        they hold something), then any column added since, described by its dtype."""
        if self.every_column:
            return [inferred(c, frame[c]) for c in frame.columns]
        described = {c.name for c in self.columns}
        out = [c for c in self.columns if c.name in frame.columns
               and not (c.optional and frame[c.name].map(shown.missing).all())]
        out += [inferred(c, frame[c], whole_ids=False) for c in frame.columns
                if c not in described and c not in self.hidden]
        return out

    def can_show(self, frame: pd.DataFrame) -> bool:
        return True  # any frame is a table

    def html(self, frame: pd.DataFrame) -> str:
        from .table_html import table_html

        rows, caption = self.drawn(frame)
        return table_html(rows, self.visible(frame), caption, self.empty, self.terms)

    def text(self, frame: pd.DataFrame, width: int) -> str:
        from .table_text import table_text

        rows, caption = self.drawn(frame)
        return table_text(rows, self.visible(frame), caption, self.empty, width)


class ShownFrame(pd.DataFrame):
    """A plain DataFrame for code; IPython shows it through its view."""

    _metadata = ["_view"]

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return pd.DataFrame  # a derived frame is an ordinary DataFrame

    def _repr_html_(self) -> str | None:
        view = getattr(self, "_view", None)
        if view is None or not view.can_show(self):
            return super()._repr_html_()
        return view.html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        view = getattr(self, "_view", None)
        if cycle or view is None or not view.can_show(self):
            printer.text(repr(self))
            return
        printer.text(view.text(self, terminal_width()))


def terminal_width() -> int:
    """The terminal's width; in a kernel (no terminal) 120 columns of text/plain."""
    return max(40, shutil.get_terminal_size((120, 24)).columns)


def with_view(frame: pd.DataFrame, view: Any) -> ShownFrame:
    """``frame`` (same columns, same values) shown through ``view``."""
    out = ShownFrame(frame)
    object.__setattr__(out, "_view", view)
    return out


def table(frame: pd.DataFrame, columns: Sequence[Column], show_all: bool = False,
          **options: Any) -> ShownFrame:
    """``frame`` shown as a table of ``columns`` (``show_all``: every column, ids whole);
    the value's other columns are left out of the default view."""
    hidden = set(frame.columns) - {c.name for c in columns}
    return with_view(frame, TableView(columns, every_column=show_all, hidden=hidden,
                                      **options))


# --- what each %agent table shows by default ------------------------------------------

MEMORY_COLUMNS = (
    Column("memory", "memory", "text"),
    Column("topics", "topics", "items"),
    Column("updated_at", "updated", "time"),
    Column("session_id", "session", "session"),
    Column("memory_id", "id", "id"),
    Column("deleted_at", "deleted", "time", optional=True),
)
SUMMARY_COLUMNS = (
    Column("version", "version", "whole"),
    Column("summary", "summary", "text"),
    Column("topics", "topics", "items"),
    Column("through_run_seq", "through run", "whole"),
    Column("created_at", "made", "time"),
)
SESSION_COLUMNS = (
    Column("session_id", "session", "session"),
    Column("session_name", "name", "word", optional=True),
    Column("agent_name", "agent", "word", optional=True),
    Column("model", "model", "word"),
    Column("runs", "runs", "whole"),
    Column("messages", "messages", "whole"),
    Column("updated_at", "last active", "time"),
    Column("created_at", "started", "time"),
)
SEARCH_COLUMNS = (
    Column("snippet", "match", "snippet"),
    Column("kind", "kind", "word"),
    Column("role", "role", "word", optional=True),
    Column("session_id", "session", "session"),
    Column("run_seq", "run", "whole", optional=True),
    Column("created_at", "time", "time"),
    Column("score", "score", "decimal"),
    Column("id", "id", "id"),
)


def _plural(n: int, word: str, words: str = "") -> str:
    return f"{n:,} " + (word if n == 1 else words or word + "s")


def memories_frame(frame: pd.DataFrame, user: str, show_all: bool) -> ShownFrame:
    return table(frame, MEMORY_COLUMNS, show_all,
                 caption=f"{_plural(len(frame), 'memory', 'memories')} of user {user}",
                 empty=f"No memories of user {user!r}.")


def summary_frame(frame: pd.DataFrame, session: str, show_all: bool) -> ShownFrame:
    return table(frame, SUMMARY_COLUMNS, show_all,
                 caption=f"{_plural(len(frame), 'summary version')} of session {session}",
                 empty=f"No summary of session {session!r} yet.")


def sessions_frame(frame: pd.DataFrame, user: str, show_all: bool) -> ShownFrame:
    columns = SESSION_COLUMNS
    if frame["user_id"].nunique(dropna=False) > 1:  # sessions nobody owns are listed too
        columns = (*columns[:1], Column("user_id", "user", "word"), *columns[1:])
    return table(frame, columns, show_all,
                 caption=f"{_plural(len(frame), 'session')} of user {user}",
                 empty=f"No sessions of user {user!r}.")


def matched_words(query: str, texts: Iterable[str]) -> frozenset[str]:
    """The words of ``texts`` (lower-cased) that the search matched for ``query``: the
    same stem as a word of the query ("donated" for "donate"), as the index compares."""
    from ..store.text_terms import Analyzer, language_setting

    try:
        analyzer = Analyzer(language_setting())
    except ValueError:  # an unknown AGENTMEM_SEARCH_LANGUAGE: the search says so itself
        analyzer = Analyzer(None)
    wanted = set(analyzer.terms(query, stop=True))
    words = sorted({w for text in texts for w in analyzer.words(text, stop=True)})
    return frozenset(w for w, stem in zip(words, analyzer.stems(words)) if stem in wanted)


def search_frame(frame: pd.DataFrame, query: str, user: str, show_all: bool) -> ShownFrame:
    frame = frame.copy()
    frame["run_seq"] = frame["run_seq"].astype("Int64")  # a run number, <NA> for memories
    terms = matched_words(query, [str(s) for s in frame.get("snippet", [])])
    return table(frame, SEARCH_COLUMNS, show_all, terms=terms,
                 caption=f"{_plural(len(frame), 'hit')} for {query.strip()!r}, user {user} "
                         "(history at=ID opens a message: whole ids in the id column, "
                         "or columns=all)",
                 empty=f"Nothing of user {user!r} matches {query.strip()!r}.")


def history_frame(rows: list[dict], all_columns: list[str], show_all: bool,
                  session: str = "") -> ShownFrame:
    """A session's messages: run, role, content and time (``show_all``: every column),
    and each run's status when some run has no reply (interrupted, error, cancelled);
    shown as a conversation."""
    from .conversation import NO_REPLY, ConversationView

    frame = pd.DataFrame(rows, columns=all_columns)
    if show_all:
        return table(frame, (), True, empty=f"No messages in session {session!r}.")
    view = pd.DataFrame({"run": frame["run_seq"], "role": frame["role"],
                         "content": frame["content"],
                         "time": pd.to_datetime(frame["created_at"]).dt.floor("s")})
    if frame["status"].isin(NO_REPLY).any():
        view["status"] = frame["status"]
    return with_view(view, ConversationView(session))
