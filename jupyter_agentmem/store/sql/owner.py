"""Who may see what: the one place ownership is written, as the SQL that every session-
or user-scoped statement of the shared store carries.

The model (docs/architecture.md, "Who owns what"):

- A store object acts as one user (``SqlStore.user_id``; ``"default"`` unless
  ``as_user`` says otherwise). There is no call of the ``Store`` contract without one.
- A session belongs to the user who started it (``sessions.user_id``). A session with
  no owner (NULL: written by phidata without a user, or before users were recorded; or
  runs whose session has no row, as the first schema left them) is nobody's: any user
  may read it, and the first write of a user claims it.
- Another user's session reads as absent (no row, no run, no message, no summary, no
  search hit, no usage row), and a write into it is refused with ``not_yours``.
- A memory belongs to its ``user_id``; a model call's ledger row to its ``user_id``.

The predicates are plain SQL with ``?`` parameters, added to the statement that reads
or writes, so the check is in the same statement (and transaction) as the work.
"""

from __future__ import annotations

from typing import Any

# The acting user may see this session (a parameter: the session id): no other user owns
# it. Uncorrelated: evaluated once per statement, by the sessions primary key.
SESSION = ("NOT EXISTS (SELECT 1 FROM sessions o WHERE o.session_id = ? "
           "AND o.user_id <> ?)")


def session(session_id: str, user_id: str) -> tuple[str, list[Any]]:
    """``SESSION`` with its parameters."""
    return SESSION, [session_id, user_id]


def sessions_of(column: str) -> str:
    """``column`` (qualified with its table: inside the subquery a bare name would be
    the sessions table's own) names a session the acting user may see; one parameter,
    the user. Correlated, by the sessions primary key, for statements that find rows by
    their own id (a message, a run, an event)."""
    assert "." in column, "qualify the column with its table"
    return (f"NOT EXISTS (SELECT 1 FROM sessions o WHERE o.session_id = {column} "
            "AND o.user_id <> ?)")


def not_yours(session_id: str) -> str:
    # The owner is not named: that would tell one user about another.
    return (f"session {session_id!r} belongs to another user. Use your own session "
            "(or a new session id) with this user.")
