"""Import a store written by phidata 2.x (SQLite file or PostgreSQL) into ours.

phidata keeps each session as one row whose ``memory`` JSON holds the runs, messages
and summary (``SqlAgentStorage`` / ``PgAgentStorage``), and each memory as a row whose
``memory`` column is a Python repr (SQLite) or JSON (PostgreSQL). Everything is read
and checked first; then it is written in one transaction, ids kept (run ids, memory
ids, session ids), skipping what is already there: a re-import adds nothing, and a bad,
foreign or truncated source writes nothing.

Every row is hostile input: each field is checked (its type, a time that is one, text
any backend stores, JSON nested at most ``MAX_DEPTH`` deep, ids unique) and anything
else is one ``PhidataImportError`` naming the source, the row and the field, before
anything is written; a write the store refuses (an id stored elsewhere already) names
its row too, and the whole import is rolled back.
"""

from __future__ import annotations

import ast
import json
import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..types import Memory, Message, Run, SessionSummary
from .base import Store
from .values import ID_MAX_CHARS, INT32_MAX, text_problem

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
SESSION_COLUMNS = ("session_id", "user_id", "memory", "agent_data", "session_data",
                   "created_at")
MEMORY_COLUMNS = ("id", "user_id", "memory", "created_at")
ROLES = ("user", "assistant", "tool")  # system/developer prompts are rebuilt, not stored
# A message's tool_calls (or list content) is stored as JSON: phidata's are 3 levels
# deep (the arguments are text); JSON nested ~1,000 deep overflows the stack when stored.
MAX_DEPTH = 64


class PhidataImportError(ValueError):
    """The source is not a phidata store we can read: nothing was imported."""


class _RowError(PhidataImportError):
    """A row of the source is not one we can import (said with the row and the field;
    the source is named by ``import_phidata``)."""


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


def _moment(value: Any, what: str) -> datetime:
    """phidata's epoch seconds, or timestamp text / datetime, as our naive UTC."""
    if value is None:
        return datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = datetime.fromtimestamp(value, timezone.utc)
        elif isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif not isinstance(value, datetime):
            raise TypeError(type(value).__name__)
    except (ValueError, OverflowError, OSError, TypeError):
        raise _RowError(f"{what} is not a time: {_shown(value)}") from None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + f"... ({len(text):,} characters)"


def _text(value: Any, what: str) -> str | None:
    """A text field (None when absent); it must be text any backend stores."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _RowError(f"{what} is not text but {type(value).__name__}: {_shown(value)}")
    try:  # (SQLite text that is not UTF-8 is read with lone surrogates: _sqlite_rows)
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _RowError(f"{what} is not valid UTF-8 text (at character {exc.start})") from None
    problem = text_problem(value)
    if problem is not None:
        raise _RowError(f"{what} {problem}")
    return value


def _id(value: Any, what: str, required: bool = True) -> str | None:
    text = _text(value, what)
    if text is None or not text:
        if required:
            raise _RowError(f"{what} is missing")
        return None
    if len(text) > ID_MAX_CHARS:
        raise _RowError(f"{what} has {len(text):,} characters (an id has at most "
                        f"{ID_MAX_CHARS})")
    return text


def _nested(value: Any, what: str) -> Any:
    """``value`` if it is JSON nested at most ``MAX_DEPTH`` deep (checked without
    recursion: the value may be deep enough to overflow the stack)."""
    level = [value]
    for _ in range(MAX_DEPTH + 1):
        level = [v for item in level if isinstance(item, (dict, list))
                 for v in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return value
    raise _RowError(f"{what} is nested more than {MAX_DEPTH} levels deep")


def _json(value: Any, what: str) -> Any:
    if value is None or isinstance(value, (dict, list)):
        return value
    if not isinstance(value, (str, bytes)):
        raise _RowError(f"{what} is not JSON text but {type(value).__name__}")
    try:
        return json.loads(value)
    except RecursionError:
        raise _RowError(f"{what} is nested too deeply to be read") from None
    except ValueError as exc:  # (UnicodeDecodeError included)
        raise _RowError(f"{what} is not JSON ({exc})") from None


def _count(value: Any, what: str) -> int | None:
    """A token count: phidata keeps one number per model call, in a list."""
    if value is None:
        return None
    numbers = value if isinstance(value, list) else [value]
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise _RowError(f"{what} is not a whole number of tokens: {_shown(value)}")
    total = sum(numbers)
    if total > INT32_MAX:
        raise _RowError(f"{what} is out of range: {total}")
    return total


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
    # Text that is not UTF-8 is read with its bad bytes as lone surrogates: the field
    # holding it is then named (``_text``) instead of the whole read failing.
    con.text_factory = lambda data: data.decode("utf-8", "surrogateescape")
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
    except RecursionError:  # psycopg decodes json/jsonb columns with json.loads
        raise PhidataImportError(f"{redacted(url)}: a JSON value in table {table!r} is "
                                 "nested too deeply to be read; nothing was imported"
                                 ) from None


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
    what = f"{what}, message {index}"
    if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
        raise _RowError(f"{what} is not an object with a role")
    if raw["role"] not in ROLES:
        return None
    content = raw.get("content")
    if content is not None and not isinstance(content, str):  # a list of parts
        content = json.dumps(_nested(content, f"{what}: content"))
    tool_calls = raw.get("tool_calls") or None
    if tool_calls is not None and (not isinstance(tool_calls, list) or not all(
            isinstance(call, dict) for call in tool_calls)):
        raise _RowError(f"{what}: tool_calls is not a list of objects: {_shown(tool_calls)}")
    _nested(tool_calls, f"{what}: tool_calls")
    return Message(role=raw["role"], content=_text(content, f"{what}: content"),
                   name=_text(raw.get("name"), f"{what}: name"),
                   tool_calls=tool_calls,
                   tool_call_id=_text(raw.get("tool_call_id"), f"{what}: tool_call_id"),
                   message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}#{index}")),
                   created_at=_moment(raw.get("created_at"), f"{what}: created_at"))


def _run(raw: Any, session_id: str, seq: int, what: str) -> Run:
    what = f"{what}, run {seq}"
    response = raw.get("response") if isinstance(raw, dict) else None
    if not isinstance(response, dict):
        raise _RowError(f"{what} has no response")
    run_id = (_id(response.get("run_id"), f"{what}: run_id", required=False)
              or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{session_id}#{seq}")))
    messages = [m for i, raw_m in enumerate(response.get("messages") or [])
                if (m := _message(raw_m, run_id, i, what)) is not None]
    if not messages and isinstance(raw.get("message"), dict):
        messages = [m for m in [_message(raw["message"], run_id, 0, what)] if m]
    metrics = response.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise _RowError(f"{what}: metrics is not an object")
    tokens = {k: n for k in ("input_tokens", "output_tokens")
              if (n := _count(metrics.get(k), f"{what}: metrics.{k}")) is not None}
    return Run(run_id=run_id, session_id=session_id,
               model=_text(response.get("model"), f"{what}: model"),
               created_at=_moment(response.get("created_at"), f"{what}: created_at"),
               messages=messages, **tokens)


def _session(row: dict) -> ImportedSession:
    session_id = _id(row["session_id"], "a session's session_id")
    assert session_id is not None
    what = f"session {session_id!r}"
    memory = _json(row["memory"], f"{what}: memory") or {}
    if not isinstance(memory, dict) or not isinstance(memory.get("runs", []), list):
        raise _RowError(f"{what}: memory is not phidata's AgentMemory dict")
    runs = [_run(raw, session_id, seq, what) for seq, raw in enumerate(memory.get("runs", []))]
    summary = None
    raw_summary = memory.get("summary")
    if isinstance(raw_summary, dict) and raw_summary.get("summary"):
        topics = raw_summary.get("topics") or []
        if not isinstance(topics, list):
            raise _RowError(f"{what}: summary.topics is not a list: {_shown(topics)}")
        summary = SessionSummary(
            session_id=session_id,
            summary=_text(raw_summary["summary"], f"{what}: summary.summary"),
            topics=[_text(t, f"{what}: summary.topics") for t in topics],
            through_run_seq=len(runs) - 1)
    agent_data = _json(row.get("agent_data"), f"{what}: agent_data") or {}
    session_data = _json(row.get("session_data"), f"{what}: session_data") or {}
    if not isinstance(agent_data, dict) or not isinstance(session_data, dict):
        raise _RowError(f"{what}: agent_data and session_data must be JSON objects")
    return ImportedSession(session_id, _id(row["user_id"], f"{what}: user_id", required=False),
                           _text(agent_data.get("name"), f"{what}: agent_data.name"),
                           _text(session_data.get("session_name"),
                                 f"{what}: session_data.session_name"), runs, summary)


def _memory(row: dict, default_user: str) -> Memory:
    memory_id = _id(row["id"], "a memory's id")
    what = f"memory {memory_id!r}"
    raw = row["memory"]
    if isinstance(raw, str):
        try:  # SQLite: a Python repr (phidata writes str(dict)); literal_eval runs no code
            raw = ast.literal_eval(raw)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            raw = _json(raw, f"{what}: memory")
    if not isinstance(raw, dict) or not isinstance(raw.get("memory"), str):
        raise _RowError(f"{what} is not phidata's memory dict")
    topic = _text(raw.get("topic"), f"{what}: topic")
    moment = _moment(row.get("created_at"), f"{what}: created_at")
    return Memory(memory_id=memory_id,
                  user_id=_id(row["user_id"], f"{what}: user_id", required=False)
                  or default_user,
                  memory=_text(raw["memory"], f"{what}: memory"),
                  input=_text(raw.get("input"), f"{what}: input"),
                  topics=[topic] if topic else [], created_at=moment, updated_at=moment)


def _unique(sessions: list[ImportedSession], memories: list[Memory]) -> None:
    """Each run id and memory id once in the source (else a key of ours would clash)."""
    runs: dict[str, str] = {}
    for session in sessions:
        for seq, run in enumerate(session.runs):
            here = f"session {session.session_id!r}, run {seq}"
            if run.run_id in runs:
                raise _RowError(f"{here}: run_id {run.run_id!r} is also the run_id of "
                                f"{runs[run.run_id]}")
            runs[run.run_id] = here
    seen: set[str] = set()
    for memory in memories:
        if memory.memory_id in seen:
            raise _RowError(f"memory {memory.memory_id!r}: its id is in the source twice")
        seen.add(memory.memory_id)


def _written(what: str, write: Callable[[], Any]) -> Any:
    """One write of the import; a refusal names its row (the batch is rolled back)."""
    try:
        return write()
    except Exception as exc:  # noqa: BLE001 (each backend's own key errors; StoreError)
        raise _RowError(f"{what} could not be stored ({type(exc).__name__}: "
                        f"{str(exc).strip().rstrip('.')})") from None


def import_phidata(store: Store, source: str, table: str = "agent_sessions",
                   memory_table: str | None = None, schema: str = "ai",
                   default_user: str = "default") -> ImportResult:
    """Import ``source``'s sessions (and memories) into ``store``; what was imported."""
    try:
        return _import(store, source, table, memory_table, schema, default_user)
    except _RowError as exc:
        where = source
        if "://" in source:
            from .postgres import redacted

            where = redacted(source)
        raise PhidataImportError(f"{where}: {exc}. Nothing was imported.") from None


def _import(store: Store, source: str, table: str, memory_table: str | None, schema: str,
            default_user: str) -> ImportResult:
    sessions = [_session(r) for r in _rows(source, table, SESSION_COLUMNS, schema)]
    memories = ([_memory(r, default_user) for r in _rows(source, memory_table, MEMORY_COLUMNS,
                                                          schema)] if memory_table else [])
    _unique(sessions, memories)
    result = ImportResult()
    with store.batch():
        for session in sessions:
            # Each session is its user's (phidata's None: ``default_user``); a session
            # id another user holds in ``store`` is refused by the store, nothing kept.
            mine = store.as_user(session.user_id or default_user)
            what = f"session {session.session_id!r}"
            known = {r.run_id for r in mine.session_runs(session.session_id)}
            if _written(what, lambda s=session, m=mine: m.usable_session(s.session_id)) is None:
                result.sessions += 1
            _written(what, lambda s=session, m=mine: m.save_session(
                s.session_id, s.agent_name, s.session_name))
            for seq, run in enumerate(session.runs):
                if run.run_id in known:
                    result.skipped.append(run.run_id)
                    continue
                _written(f"{what}, run {seq} (run_id {run.run_id!r})",
                         lambda r=run, m=mine: m.append_run(r))
                result.runs += 1
                result.messages += len(run.messages)
            latest = mine.latest_summary(session.session_id)
            if session.summary is not None and (latest is None
                                                or latest.summary != session.summary.summary):
                _written(f"{what}: summary",
                         lambda s=session, m=mine: m.add_summary(s.summary, actor="user"))
                result.summaries += 1
        for memory in memories:
            mine = store.as_user(memory.user_id)
            if mine.get_memory(memory.memory_id) is not None:
                result.skipped.append(memory.memory_id)
                continue
            _written(f"memory {memory.memory_id!r}",
                     lambda m=memory, st=mine: st.add_memory(m, actor="user"))
            result.memories += 1
    return result
