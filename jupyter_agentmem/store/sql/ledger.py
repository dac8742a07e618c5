"""The usage ledger in SQL: background model calls in ``model_calls``, chat calls as ``runs``."""

from __future__ import annotations

from typing import Any

from ...types import ModelCall
from ..base import StoreError
from . import owner
from .rows import SqlRows

_LEDGER = """
    SELECT 'chat' AS kind, model, session_id, user_id, run_id, input_tokens,
           output_tokens, latency_ms, status = 'ok' AS ok, created_at
    FROM runs
    UNION ALL
    SELECT kind, model, session_id, user_id, run_id, input_tokens, output_tokens,
           latency_ms, ok, created_at
    FROM model_calls"""


class LedgerSql(SqlRows):
    """Recording and reading model calls (a mixin of ``SqlStore``)."""

    _user_id: str  # the acting user (SqlStore.as_user)

    def record_model_call(self, call: ModelCall) -> None:
        # The row is the acting user's: a call said to be another user's is refused.
        if call.user_id is not None and call.user_id != self._user_id:
            raise StoreError(f"a model call of user {call.user_id!r} cannot be recorded by "
                             f"user {self._user_id!r}")
        with self._transaction("ledger") as con:
            if call.session_id is not None and con.execute(
                    f"SELECT 1 WHERE NOT ({owner.SESSION})",
                    [call.session_id, self._user_id]).fetchone() is not None:
                raise StoreError(owner.not_yours(call.session_id))  # her export carries it
            con.execute(
                "INSERT INTO model_calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [call.call_id, call.kind, call.model, call.session_id, self._user_id,
                 call.run_id, call.input_tokens, call.output_tokens, call.latency_ms,
                 call.ok, call.created_at])

    def usage_rows(self) -> list[dict[str, Any]]:
        # A chat call's row is its run, whose user_id is its author; a background
        # call's, the user it worked for: a user sees only their own calls.
        return self._dicts(f"SELECT * FROM ({_LEDGER}) ledger WHERE user_id = ? "
                           "ORDER BY created_at", [self._user_id])
