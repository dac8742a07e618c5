"""The store contract: everything the agent, the memory work, the magics and the panel
ask of persistence.

``sql/store.py`` implements it once in SQL for every engine (DuckDB, PostgreSQL);
a caller never knows which engine it talks to.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..types import Memory, ModelCall, Run, RunContext, SessionInfo, SessionSummary


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
    def get_session(self, session_id: str) -> SessionInfo | None: ...

    @abstractmethod
    def session_for_user(self, session_id: str, user_id: str) -> SessionInfo | None:
        """The session if ``user_id`` may use it (theirs, new, or owned by nobody yet);
        ``StoreError`` when it belongs to another user."""

    @abstractmethod
    def list_sessions(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Every session (with ``user_id``: that user's and nobody's) with its run and
        message counts, newest first."""

    @abstractmethod
    def save_session(self, session_id: str, user_id: str | None = None,
                     agent_name: str | None = None, session_name: str | None = None) -> None:
        """Create the session's row if missing; set the names given (``None`` keeps)."""

    @abstractmethod
    def delete_session(self, session_id: str, actor: str = "user") -> bool:
        """Delete a session with its runs, messages and summaries (an event records the
        counts); memories stay with their user. ``False`` if there was no such session."""

    # --- runs and messages ----------------------------------------------------
    @abstractmethod
    def stage_run(self, run: Run, user_id: str | None = None) -> None:
        """Keep ``run.messages[0]`` (the user's message) where the death of this process
        cannot lose it, before the model is called, without waiting for a disk write.
        Should the process die before ``append_run(run)``, the run is kept with status
        ``interrupted`` and that message (sql/staged.py)."""

    @abstractmethod
    def append_run(self, run: Run, user_id: str | None = None) -> int:
        """Store a run and its messages in one transaction; return its seq."""

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

    @abstractmethod
    def user_runs(self, user_id: str, run_ids: Sequence[str]) -> list[Run]:
        """Those of ``run_ids`` that are live runs (ok, not superseded) of a session of
        this namespace owned by ``user_id``, with their live messages; any order. A run
        of another user's session, or of a session owned by nobody, is never returned."""

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
    def user_memories(self, user_id: str, include_deleted: bool = False) -> list[Memory]: ...

    @abstractmethod
    def count_memories(self, user_id: str) -> int:
        """How many live memories ``user_id`` has."""

    @abstractmethod
    def memories_by_relevance(self, user_id: str, ranked_ids: list[str], newest: int,
                              limit: int) -> list[Memory]:
        """At most ``limit`` live memories of ``user_id``: the ``newest`` most recently
        updated, then ``ranked_ids`` in their order; returned oldest first."""

    @abstractmethod
    def get_memory(self, user_id: str, memory_id: str) -> Memory | None:
        """One of ``user_id``'s memories (deleted ones too), or None."""

    @abstractmethod
    def add_memory(self, memory: Memory, actor: str = "model",
                   runs: Sequence[Run] = ()) -> Memory:
        """Keep a new memory; ``runs``: the runs it came from (its provenance, what a
        purge of those runs removes it with). ``StoreError`` if one was purged."""

    @abstractmethod
    def update_memory(
        self, user_id: str, memory_id: str, memory: str | None, topics: list[str] | None,
        actor: str, expected: dict[str, Any] | None = None, runs: Sequence[Run] = (),
    ) -> Memory:
        """Change a memory's text and/or topics (``None``: kept as stored); only the
        given columns are written. ``expected``: as in ``edit_message``
        (``{"memory": ..., "topics": [...]}``, any of them). ``runs``: the runs the
        change came from, added to the memory's provenance."""

    @abstractmethod
    def delete_memory(self, user_id: str, memory_id: str, actor: str) -> None: ...

    @abstractmethod
    def restore_memory(self, user_id: str, memory_id: str, actor: str) -> None: ...

    @abstractmethod
    def delete_user_memories(self, user_id: str, actor: str) -> int: ...

    @abstractmethod
    def memory_users(self) -> list[str]:
        """Every user id that has live memories (phidata's memory db reads all users)."""

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
    def events(
        self, target_id: str | None = None, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Changes, oldest first, optionally for one target or user."""

    @abstractmethod
    def undo_event(self, event_id: str, actor: str = "user") -> None:
        """Put back the value an event replaced (itself recorded as an event)."""

    @abstractmethod
    def purge(self, user_id: str, session_id: str | None = None,
              message_id: str | None = None, dry_run: bool = False) -> dict[str, int]:
        """Remove for good (not a soft delete) the text of ``user_id``'s data: all of it,
        or one of their sessions, or one message of theirs; with the memories and
        summary versions derived from it, its search index rows and stored requests;
        the usage ledger keeps the numbers, the audit trail a sha256 of each value.
        One transaction, then the database's files are scrubbed. ``StoreError`` for a
        session or message that is not the user's. Returns counts (``dry_run``: what
        would be purged, nothing changed)."""

    # --- usage ledger ---------------------------------------------------------
    @abstractmethod
    def record_model_call(self, call: ModelCall) -> None:
        """Keep one background model call (chat calls are kept as runs)."""

    @abstractmethod
    def usage_rows(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Every model call, chat and background, oldest first: kind, model, session_id,
        user_id, run_id, input_tokens, output_tokens, latency_ms, ok, created_at."""

    # --- search ---------------------------------------------------------------
    @abstractmethod
    def search(self, query: str, session_id: str | None = None, user_id: str | None = None,
               kinds: Sequence[str] = ("messages", "memories", "summaries"),
               limit: int = 20) -> list[dict[str, Any]]:
        """The best-ranked texts for ``query`` (BM25), best first: id, kind, session_id,
        user_id, run_id, run_seq, role, score, snippet, created_at. ``user_id`` keeps only
        that user's texts, ``session_id`` only that session's."""

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
    def export_rows(self, session_id: str | None = None,
                    user_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Every row of a session, or of a user, or (neither) of the whole store, by
        table, as plain values (timestamps as ISO text)."""

    @abstractmethod
    def import_rows(self, rows: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
        """Add the rows not there yet, ids kept, all or nothing; how many each table
        gained (importing twice adds nothing)."""

    # --- raw tables (for pandas) ---------------------------------------------
    @abstractmethod
    def table_rows(self, table: str) -> list[dict[str, Any]]: ...
