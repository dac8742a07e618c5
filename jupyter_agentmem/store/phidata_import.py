"""Import a store written by phidata 2.x (SQLite file or PostgreSQL) into ours.

phidata keeps each session as one row whose ``memory`` JSON holds the runs, messages
and summary (``SqlAgentStorage`` / ``PgAgentStorage``), and each memory as a row whose
``memory`` column is a Python repr (SQLite) or JSON (PostgreSQL). Everything is read
and checked first; then it is written in one transaction, ids kept (run ids, memory
ids, session ids), skipping what is already there: a re-import adds nothing, and a bad,
foreign or truncated source writes nothing.
"""

from __future__ import annotations

import ast
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..types import Memory, Message, Run, SessionSummary
from .base import Store

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
SESSION_COLUMNS = ("session_id", "user_id", "memory", "agent_data", "session_data",
                   "created_at")
MEMORY_COLUMNS = ("id", "user_id", "memory", "created_at")
ROLES = ("user", "assistant", "tool")  # system/developer prompts are rebuilt, not stored


class PhidataImportError(ValueError):
    """The source is not a phidata store we can read: nothing was imported."""


@dataclass
class ImportedSession:
    session_id: str
    user_id: str | None
    agent_name: str | None
    session_name: str | None
    runs: list[Run]
    summary: SessionSummary | None


@dataclass
class ImportResult:
    sessions: int = 0
    runs: int = 0
    messages: int = 0
    summaries: int = 0
    memories: int = 0
    skipped: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (f"imported {self.sessions} sessions, {self.runs} runs, {self.messages} "
                f"messages, {self.summaries} summaries, {self.memories} memories"
                + (f" ({len(self.skipped)} already there)" if self.skipped else ""))


def _checked_name(kind: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise PhidataImportError(f"invalid {kind} name {name!r}: letters, digits and _ only")
    return name


def _moment(value: Any) -> datetime:
    """phidata's epoch seconds, or timestamp text / datetime, as our naive UTC."""
    if value is None:
        return datetime.now(timezone.utc).replace(tzinfo=None)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _json(value: Any, what: str) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return value
    try:
        return json.loads(value)
    except (TypeError, ValueError) as exc:
        raise PhidataImportError(f"{what} is not JSON ({exc})") from exc


# --- reading a source ----------------------------------------------------------------
def _rows(source: str, table: str, columns: tuple[str, ...], schema: str) -> list[dict]:
    table = _checked_name("table", table)
    if "://" in source:
        return _pg_rows(source, table, columns, _checked_name("schema", schema))
    return _sqlite_rows(source, table, columns)


def _sqlite_rows(path: str, table: str, columns: tuple[str, ...]) -> list[dict]:
    import sqlite3

    if not os.path.isfile(path):
        raise PhidataImportError(f"{path} does not exist (SOURCE is a SQLite file written "
                                 "by phidata, or a postgresql:// URL)")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise PhidataImportError(f"cannot open {path}: {exc}") from exc
    try:
        found = [r[1] for r in con.execute(f"PRAGMA table_info({table})").fetchall()]
        _check_columns(table, found, columns, path)
        cur = con.execute(f"SELECT {', '.join(columns)} FROM {table}")
        return [dict(zip(columns, row)) for row in cur.fetchall()]
    except sqlite3.Error as exc:
        raise PhidataImportError(f"{path} is not a readable SQLite database ({exc}); "
                                 "nothing was imported") from exc
    finally:
        con.close()


def _pg_rows(url: str, table: str, columns: tuple[str, ...], schema: str) -> list[dict]:
    import psycopg

    from .postgres import psycopg_url, redacted

    try:
        with psycopg.connect(psycopg_url(url)) as con:
            found = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s", [schema, table]).fetchall()]
            _check_columns(f"{schema}.{table}", found, columns, redacted(url))
            cur = con.execute(f'SELECT {", ".join(columns)} FROM "{schema}"."{table}"')
            return [dict(zip(columns, row)) for row in cur.fetchall()]
    except psycopg.Error as exc:
        raise PhidataImportError(f"cannot read {redacted(url)}: {exc}") from exc


def _check_columns(table: str, found: list[str], needed: tuple[str, ...], where: str) -> None:
    if not found:
        raise PhidataImportError(f"{where} has no table {table!r} (phidata's default "
                                 "tables: agent_sessions, agent_memory)")
    missing = [c for c in needed if c not in found]
    if missing:
        raise PhidataImportError(f"table {table!r} in {where} is not a phidata table: no "
                                 f"column {', '.join(missing)}")


# --- phidata rows -> ours ----------------------------------------------------------------
def _message(raw: Any, run_id: str, index: int, what: str) -> Message | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise PhidataImportError(f"{what}: a message is not an object with a role")
    if raw["role"] not in ROLES:
        return None
    content = raw.get("content")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    return Message(role=raw["role"], content=content, name=raw.get("name"),
                   tool_calls=raw.get("tool_calls") or None,
                   tool_call_id=raw.get("tool_call_id"),
                   message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}#{index}")),
                   created_at=_moment(raw.get("created_at")))


def _session(row: dict) -> ImportedSession:
    session_id = row["session_id"]
    what = f"session {session_id!r}"
    memory = _json(row["memory"], f"{what}: memory") or {}
    if not isinstance(memory, dict) or not isinstance(memory.get("runs", []), list):
        raise PhidataImportError(f"{what}: memory is not phidata's AgentMemory dict")
    runs = []
    for seq, raw in enumerate(memory.get("runs", [])):
        response = raw.get("response") if isinstance(raw, dict) else None
        if not isinstance(response, dict):
            raise PhidataImportError(f"{what}: run {seq} has no response")
        run_id = response.get("run_id") or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                          f"{session_id}#{seq}"))
        messages = [m for i, raw_m in enumerate(response.get("messages") or [])
                    if (m := _message(raw_m, run_id, i, what)) is not None]
        if not messages and isinstance(raw.get("message"), dict):
            messages = [m for m in [_message(raw["message"], run_id, 0, what)] if m]
        metrics = response.get("metrics") or {}
        tokens = {k: sum(v) if isinstance(v, list) else v
                  for k in ("input_tokens", "output_tokens") if (v := metrics.get(k)) is not None}
        runs.append(Run(run_id=run_id, session_id=session_id, model=response.get("model"),
                        created_at=_moment(response.get("created_at")), messages=messages,
                        **tokens))
    summary = None
    raw_summary = memory.get("summary")
    if isinstance(raw_summary, dict) and raw_summary.get("summary"):
        summary = SessionSummary(session_id=session_id, summary=raw_summary["summary"],
                                 topics=list(raw_summary.get("topics") or []),
                                 through_run_seq=len(runs) - 1)
    agent_data = _json(row.get("agent_data"), f"{what}: agent_data") or {}
    session_data = _json(row.get("session_data"), f"{what}: session_data") or {}
    return ImportedSession(session_id, row["user_id"], agent_data.get("name"),
                           session_data.get("session_name"), runs, summary)


def _memory(row: dict, default_user: str) -> Memory:
    raw = row["memory"]
    if isinstance(raw, str):
        try:  # SQLite: a Python repr (phidata writes str(dict)); literal_eval runs no code
            raw = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            raw = _json(raw, f"memory {row['id']!r}")
    if not isinstance(raw, dict) or not isinstance(raw.get("memory"), str):
        raise PhidataImportError(f"memory {row['id']!r} is not phidata's memory dict")
    topic = raw.get("topic")
    moment = _moment(row.get("created_at"))
    return Memory(memory_id=row["id"], user_id=row["user_id"] or default_user,
                  memory=raw["memory"], input=raw.get("input"),
                  topics=[topic] if isinstance(topic, str) and topic else [],
                  created_at=moment, updated_at=moment)


def import_phidata(store: Store, source: str, table: str = "agent_sessions",
                   memory_table: str | None = None, schema: str = "ai",
                   default_user: str = "default") -> ImportResult:
    """Import ``source``'s sessions (and memories) into ``store``; what was imported."""
    sessions = [_session(r) for r in _rows(source, table, SESSION_COLUMNS, schema)]
    memories = ([_memory(r, default_user) for r in _rows(source, memory_table, MEMORY_COLUMNS,
                                                          schema)] if memory_table else [])
    result = ImportResult()
    with store.batch():
        for session in sessions:
            # Each session is its user's (phidata's None: ``default_user``); a session
            # id another user holds in ``store`` is refused by the store, nothing kept.
            mine = store.as_user(session.user_id or default_user)
            known = {r.run_id for r in mine.session_runs(session.session_id)}
            if mine.usable_session(session.session_id) is None:
                result.sessions += 1
            mine.save_session(session.session_id, session.agent_name, session.session_name)
            for run in session.runs:
                if run.run_id in known:
                    result.skipped.append(run.run_id)
                    continue
                mine.append_run(run)
                result.runs += 1
                result.messages += len(run.messages)
            latest = mine.latest_summary(session.session_id)
            if session.summary is not None and (latest is None
                                                or latest.summary != session.summary.summary):
                mine.add_summary(session.summary, actor="user")
                result.summaries += 1
        for memory in memories:
            mine = store.as_user(memory.user_id)
            if mine.get_memory(memory.memory_id) is not None:
                result.skipped.append(memory.memory_id)
                continue
            mine.add_memory(memory, actor="user")
            result.memories += 1
    return result
