"""The store contract: everything the agent, the memory work, the magics and the panel
ask of persistence.

``sql/store.py`` implements it once in SQL for every engine (DuckDB, SQLite,
PostgreSQL); a caller never knows which engine it talks to.

Every store object acts as one user (``user_id``; ``DEFAULT_USER`` unless ``as_user``
says otherwise), and every session- or user-scoped call is that user's: ownership is
checked here, in the store, in the statement that reads or writes (``sql/owner.py``),
never by the caller. Another user's session reads as absent; a write into it is
refused. Store-wide calls (``export_all``, ``import_all``, ``table_rows``) are for the
file's owner at the command line (``migrate``), not for a notebook user.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..types import Memory, ModelCall, Run, RunContext, SessionInfo, SessionSummary

DEFAULT_USER = "default"  # who acts when nobody says (phidata's user_id=None)


class StoreError(RuntimeError):
    """A store operation was refused (unknown id, a row deleted meanwhile, bad value)."""


class StaleEdit(StoreError):
    """An edit's ``expected`` values are not the stored ones any more: someone changed the
    row since the caller read it. Nothing was written; ``current`` is the stored row's
    edited columns (e.g. ``{"memory": ..., "topics": [...]}``)."""

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current


class Store(ABC):
    """Sessions, runs, messages, memories, summaries and the events that changed them."""

    @property
    @abstractmethod
    def path(self) -> str | None:
        """Where the data lives, safe to show: a file path, a URL without its password,
        or ``None`` for a private in-memory store."""

    @property
    @abstractmethod
    def user_id(self) -> str:
        """The user this store object acts as."""

    @abstractmethod
    def as_user(self, user_id: str | None) -> Store:
        """This store acting as ``user_id`` (``None``: ``DEFAULT_USER``). Same database,
        same engine, same table names."""

    @abstractmethod
    def close(self) -> None:
        """Let go of the database now (hand a DuckDB file to another process); the next
        call opens it again."""

    @abstractmethod
    def scoped(self, sessions: str | None = None, memories: str | None = None) -> Store:
        """This store seeing only the sessions / memories of phidata's table names
        ``sessions`` / ``memories`` (``None``: unchanged). Same database, same engine."""

    @abstractmethod
    def ensure_view(self, kind: str, name: str) -> None:
        """A read-only view ``name`` in phidata's row shape over ``kind`` (``sessions`` or
        ``memories``) of that table name; nothing if it exists."""

    @abstractmethod
    def batch(self) -> AbstractContextManager[object]:
        """One transaction around several calls: all of them are stored, or none."""

    # --- sessions -------------------------------------------------------------
    @abstractmethod
    def get_session(self, session_id: str) -> SessionInfo | None:
        """The session, if the acting user may see it (theirs or nobody's), else None."""

    @abstractmethod
    def usable_session(self, session_id: str) -> SessionInfo | None:
        """The session if the acting user may use it (theirs, or owned by nobody yet);
        None when there is none; ``StoreError`` when it belongs to another user."""

    @abstractmethod
    def list_sessions(self) -> list[dict[str, Any]]:
        """The acting user's sessions (and nobody's) with their run and message counts
        and name (``session_name``, None if unnamed), newest first."""

    @abstractmethod
    def save_session(self, session_id: str, agent_name: str | None = None,
                     session_name: str | None = None) -> None:
        """Create the session's row (the acting user's) if missing; set the names given
        (``None`` keeps). ``StoreError`` when it belongs to another user."""

    @abstractmethod
    def delete_session(self, session_id: str, actor: str = "user") -> bool:
        """Delete a session with its runs, messages, summaries and search rows (an event
        records the counts); memories stay with their user. ``False`` if there was no
        such session; ``StoreError`` when it belongs to another user."""

    # --- runs and messages ----------------------------------------------------
    @abstractmethod
    def stage_run(self, run: Run) -> None:
        """Keep ``run.messages[0]`` (the user's message) where the death of this process
        cannot lose it, before the model is called, without waiting for a disk write.
        Should the process die before ``append_run(run)``, the run is kept with status
        ``interrupted`` and that message (sql/staged.py)."""

    @abstractmethod
    def stage_delta(self, run: Run, delta: str) -> None:
        """Keep a piece of the staged run's reply, before it is shown, where the death of
        this process cannot lose it (no disk write waited for): should the process die
        before the run is stored, the run is kept with the reply shown so far."""

    @abstractmethod
    def append_run(self, run: Run) -> int:
        """Store a run and its messages, in a session of the acting user (created or
        claimed if needed); return its seq. ``StoreError`` when the session belongs to
        another user. Visible to every read of this process at once; committed in one
        transaction, before it returns or (DuckDB, off the run cache) by a thread of the
        engine right after (sql/deferred.py)."""

    @abstractmethod
    def recent_runs(self, session_id: str, n: int) -> list[Run]:
        """The last ``n`` successful runs of a session, oldest first, with messages."""

    @abstractmethod
    def runs_after(self, session_id: str, after_seq: int, limit: int | None = None) -> list[Run]:
        """Successful runs with ``seq > after_seq``, oldest first, with messages."""

    @abstractmethod
    def session_runs(self, session_id: str) -> list[Run]:
        """Every run of a session (failed ones too), oldest first, with messages."""

    @abstractmethod
    def run_context(self, run_id: str) -> RunContext | None:
        """What the model saw in that run (the request sent, the token split), or None."""

    def settle_runs(self, besides: str | None = None) -> None:
        """Before a read that must see this process's last runs whatever their session
        (recall): the runs still queued for their commit are committed, unless all are
        of session ``besides`` (the prompt's own history carries them). Nothing where
        runs are committed in the turn."""
        del besides  # (a backend that commits in the turn has nothing queued)

    @abstractmethod
    def user_runs(self, run_ids: Sequence[str], limit: int | None = None,
                  skip_cell: tuple[str, str] | None = None) -> list[Run]:
        """Those of ``run_ids`` that are live runs (ok, not superseded) of a session of
        this namespace owned by the acting user, with their live messages, in the order
        of ``run_ids``: the first ``limit`` of them (all when None), none of the cell
        ``skip_cell`` (session, cell id). A run of another user's session, or of a
        session owned by nobody, never comes."""

    @abstractmethod
    def last_run_id(self, session_id: str) -> str | None:
        """The newest run of a session (any status), or None."""

    @abstractmethod
    def count_runs(self, session_id: str) -> int:
        """How many successful runs the session has."""

    @abstractmethod
    def message_rows(
        self, session_id: str, offset: int = 0, limit: int | None = None,
        include_deleted: bool = False, include_superseded: bool = True,
    ) -> list[dict[str, Any]]:
        """The session's messages as rows (with their run's seq and status)."""

    @abstractmethod
    def count_messages(self, session_id: str, include_deleted: bool = False,
                       include_superseded: bool = True) -> int:
        """How many messages the session has (``message_rows`` with the same filters)."""

    @abstractmethod
    def get_message(self, message_id: str) -> dict[str, Any] | None:
        """One stored message as a row (deleted ones too), or None."""

    @abstractmethod
    def edit_message(self, message_id: str, content: str, actor: str = "user",
                     expected: dict[str, Any] | None = None) -> None:
        """Change a stored message's content, recording the old value.

        ``expected`` (compare-and-set, here and in the other edits): the values of the
        row's edited columns as the caller read them (``{"content": ...}``); when the
        stored ones differ, nothing is written and ``StaleEdit`` says the current ones.
        """

    @abstractmethod
    def delete_message(self, message_id: str, actor: str = "user") -> None:
        """Soft-delete a message: kept with ``deleted_at`` set, never sent to the model."""

    @abstractmethod
    def restore_message(self, message_id: str, actor: str = "user") -> None: ...

    # --- memories -------------------------------------------------------------
    @abstractmethod
    def user_memories(self, include_deleted: bool = False) -> list[Memory]:
        """The acting user's memories (of this namespace), oldest first."""

    @abstractmethod
    def memories_by_relevance(self, ranked_ids: list[str], newest: int,
                              limit: int) -> list[Memory]:
        """At most ``limit`` live memories of the acting user: all of them when they are
        no more than ``limit``; else the ``newest`` most recently updated, then
        ``ranked_ids`` in their order. Returned oldest first."""

    @abstractmethod
    def get_memory(self, memory_id: str) -> Memory | None:
        """One of the acting user's memories (deleted ones too), or None."""

    @abstractmethod
    def add_memory(self, memory: Memory, actor: str = "model",
                   runs: Sequence[Run] = ()) -> Memory:
        """Keep a new memory of the acting user (``memory.user_id`` must be theirs);
        ``runs``: the runs it came from (its provenance, what a purge of those runs
        removes it with). ``StoreError`` if one was purged, or its id is taken."""

    @abstractmethod
    def update_memory(
        self, memory_id: str, memory: str | None, topics: list[str] | None,
        actor: str, expected: dict[str, Any] | None = None, runs: Sequence[Run] = (),
    ) -> Memory:
        """Change a memory's text and/or topics (``None``: kept as stored); only the
        given columns are written. ``expected``: as in ``edit_message``
        (``{"memory": ..., "topics": [...]}``, any of them). ``runs``: the runs the
        change came from, added to the memory's provenance."""

    @abstractmethod
    def delete_memory(self, memory_id: str, actor: str) -> None: ...

    @abstractmethod
    def restore_memory(self, memory_id: str, actor: str) -> None: ...

    @abstractmethod
    def delete_user_memories(self, actor: str) -> int:
        """Soft-delete every live memory of the acting user; how many."""

    # --- summaries ------------------------------------------------------------
    @abstractmethod
    def latest_summary(self, session_id: str) -> SessionSummary | None:
        """The newest summary version that is not deleted."""

    @abstractmethod
    def add_summary(self, summary: SessionSummary, actor: str = "model",
                    runs: Sequence[Run] = (), based_on: int | None = None) -> SessionSummary:
        """Keep a new summary version; ``runs``: the runs folded into it, ``based_on``:
        the version it was built on (its provenance)."""

    @abstractmethod
    def list_summaries(
        self, session_id: str, include_deleted: bool = False
    ) -> list[SessionSummary]: ...

    @abstractmethod
    def edit_summary(
        self, session_id: str, version: int, summary: str | None, topics: list[str] | None,
        actor: str, expected: dict[str, Any] | None = None,
    ) -> None:
        """Change a summary version's text and/or topics (``None``: kept); ``expected``
        as in ``edit_message``."""

    @abstractmethod
    def delete_summary(self, session_id: str, version: int, actor: str) -> None:
        """Soft-delete a summary version (``latest_summary`` skips it)."""

    @abstractmethod
    def restore_summary(self, session_id: str, version: int, actor: str) -> None: ...

    # --- events ---------------------------------------------------------------
    @abstractmethod
    def events(self, target_id: str | None = None) -> list[dict[str, Any]]:
        """Changes to the acting user's memories and sessions, oldest first (optionally
        of one target)."""

    @abstractmethod
    def undo_event(self, event_id: str, actor: str = "user") -> None:
        """Put back the value an event of the acting user replaced (itself recorded as
        an event); ``StoreError`` for another user's event."""

    @abstractmethod
    def purge(self, session_id: str | None = None,
              message_id: str | None = None, dry_run: bool = False) -> dict[str, int]:
        """Remove for good (not a soft delete) the text of the acting user's data: all of
        it (everything they wrote, in whatever session it landed), or one of their
        sessions, or one message of theirs; with the memories and
        summary versions derived from it, its search index rows and stored requests;
        the usage ledger keeps the numbers, the audit trail a sha256 of each value.
        One transaction, then the database's files are scrubbed. ``StoreError`` for a
        session or message that is not the user's. Returns counts (``dry_run``: what
        would be purged, nothing changed)."""

    # --- usage ledger ---------------------------------------------------------
    @abstractmethod
    def record_model_call(self, call: ModelCall) -> None:
        """Keep one background model call of the acting user (chat calls are runs)."""

    @abstractmethod
    def usage_rows(self) -> list[dict[str, Any]]:
        """The acting user's model calls, chat and background, oldest first: kind,
        model, session_id, user_id, run_id, input_tokens, output_tokens, latency_ms, ok,
        created_at."""

    # --- search ---------------------------------------------------------------
    @abstractmethod
    def search(self, query: str, session_id: str | None = None,
               kinds: Sequence[str] = ("messages", "memories", "summaries"),
               limit: int = 20) -> list[dict[str, Any]]:
        """The acting user's best-ranked texts for ``query`` (BM25), best first: id,
        kind, session_id, user_id, run_id, run_seq, role, score, snippet, created_at;
        ``session_id`` keeps only that session's."""

    @abstractmethod
    def search_ids(self, query: str, user_id: str, kind: str, limit: int,
                   session_id: str | None = None) -> list[tuple[str, float]]:
        """The ``limit`` best (id, score) of one kind of ``user_id``'s texts for
        ``query``, best first: ``messages``, ``exchanges`` (a run's user messages and
        replies as one text: run ids), ``memories`` or ``summaries``. Ids only: the
        caller reads the rows, checking the owner in SQL."""

    @abstractmethod
    def build_search_index(self, user_ids: Sequence[str] | None = None) -> None:
        """Build these users' search indexes now and store them (after an import of many
        texts); all users when None."""

    @abstractmethod
    def set_search_language(self, language: str | None) -> None:
        """Stem search terms in ``language`` (English also drops stopwords); ``None`` or
        ``"none"``: every word as written. ``StoreError`` for a language without a
        stemmer."""

    # --- transfer (export, import, migrate) -----------------------------------
    @abstractmethod
    def export_rows(self, session_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every row of one of the acting user's sessions, or (``None``) of all the
        acting user's data, by table, as plain values (timestamps as ISO text)."""

    @abstractmethod
    def import_rows(self, rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Add the rows not there yet, ids kept, as the acting user's, all or nothing;
        how many each table gained (importing twice adds nothing). A row naming another
        user, or another user's session, memory or message, refuses the whole import."""

    # --- the whole store (the file's owner, at the command line) --------------
    @abstractmethod
    def export_all(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of every user (``migrate``)."""

    @abstractmethod
    def import_all(self, rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        """``import_rows`` with every user's rows kept as they are (``migrate``)."""

    @abstractmethod
    def table_rows(self, table: str) -> list[dict[str, Any]]:
        """A raw table, every user's rows (tests and the command line)."""
