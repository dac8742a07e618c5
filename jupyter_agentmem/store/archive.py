"""Export files: JSON Lines, a folder of Parquet tables, a Markdown transcript.

``write_archive`` picks the format from the path (``.jsonl``, ``.parquet`` (a folder),
``.md``); ``read_archive`` reads the first two back. The rows come from
``Store.export_rows`` and go back through ``Store.import_rows``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

from .base import StoreError
from .sql.transfer import TRANSFERRED, Rows

FORMATS = (".jsonl", ".parquet", ".md")


def format_of(path: str) -> str:
    for suffix in FORMATS:
        if path.lower().endswith(suffix):
            return suffix
    raise StoreError(f"{path!r}: name the file .jsonl (every row), .parquet (a folder of "
                     "tables) or .md (a readable transcript)")


def write_archive(rows: Rows, path: str) -> str:
    """Write ``rows`` to ``path`` in the format its suffix says; returns the absolute path."""
    fmt = format_of(path)
    if fmt == ".jsonl":
        _write_jsonl(rows, path)
    elif fmt == ".parquet":
        _write_parquet(rows, path)
    else:
        _write_markdown(rows, path)
    return os.path.abspath(path)


def read_archive(path: str) -> Rows:
    """The rows of a ``.jsonl`` file or a ``.parquet`` folder written by ``write_archive``."""
    fmt = format_of(path)
    if fmt == ".md":
        raise StoreError(f"{path!r} is a transcript for reading: import a .jsonl file or a "
                         ".parquet folder")
    if not os.path.exists(path):
        raise StoreError(f"{path!r} does not exist")
    return _read_jsonl(path) if fmt == ".jsonl" else _read_parquet(path)


# --- JSON Lines: {"table": ..., "row": {...}} per line ---------------------------
def _write_jsonl(rows: Rows, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for table, found in rows.items():
            for row in found:
                f.write(json.dumps({"table": table, "row": row}, ensure_ascii=False) + "\n")


def _read_jsonl(path: str) -> Rows:
    rows: Rows = {}
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except RecursionError:
                    raise StoreError(f"{path}:{number}: {_deep_part(line)} is nested too "
                                     "deeply to be read (not an agentmem export)") from None
                if (not isinstance(item, dict) or not isinstance(item.get("table"), str)
                        or not isinstance(item.get("row"), dict)):
                    raise StoreError(f"{path}:{number}: not a {{\"table\", \"row\"}} line")
                _check_depth(item["row"], f"{path}:{number}")
                rows.setdefault(item["table"], []).append(item["row"])
    except (ValueError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is not an agentmem .jsonl export ({exc})") from None
    return rows


# A row of ours nests ~5 levels at most (a stored request's tool calls); deeper is not
# ours, and JSON nested ~1,000 deep overflows Python's stack when it is stored again.
MAX_DEPTH = 64
# The pieces of JSON text that matter to its depth: strings (a key when ":" follows)
# and brackets. Linear: the string pattern cannot backtrack.
_JSON_PIECE = re.compile(r'"([^"\\]*(?:\\.[^"\\]*)*)"(\s*:)?|[\[\]{}]')


def _check_depth(row: dict[str, Any], where: str) -> None:
    """A ``StoreError`` naming the field of ``row`` nested more than ``MAX_DEPTH`` deep
    (walked level by level, without recursion)."""
    for key, value in row.items():
        level = [value]
        for _ in range(MAX_DEPTH):
            level = [v for item in level if isinstance(item, (dict, list))
                     for v in (item.values() if isinstance(item, dict) else item)]
            if not level:
                break
        else:
            raise StoreError(f"{where}: the row's field {key!r} is nested more than "
                             f"{MAX_DEPTH} levels deep (not an agentmem export)")


def _deep_part(line: str) -> str:
    """Where a line too deep for ``json.loads`` gets too deep: ``the row's field 'x'``
    (a key of its ``row``), found by scanning its text."""
    depth = 0
    keys: dict[int, str] = {}  # depth -> the last key seen at that depth
    for piece in _JSON_PIECE.finditer(line):
        text = piece.group()
        if text in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                break
        elif text in "]}":
            depth -= 1
        elif piece.group(2):  # a key
            try:
                keys[depth] = json.loads(f'"{piece.group(1)}"')
            except ValueError:
                keys[depth] = piece.group(1)
    if keys.get(1) == "row" and 2 in keys:
        return f"the row's field {keys[2]!r}"
    return f"its {keys[1]!r}" if 1 in keys else "the line"


# --- Parquet: <folder>/<table>.parquet, written and read by DuckDB (no pyarrow) -----
def _memory_duckdb() -> Any:
    import duckdb

    return duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                              "autoload_known_extensions": False})


def _write_parquet(rows: Rows, folder: str) -> None:
    import pandas as pd

    os.makedirs(folder, exist_ok=True)
    con = _memory_duckdb()
    try:
        for table, found in rows.items():
            # Every value as JSON text: one column type whatever the backend's types.
            frame = pd.DataFrame({"row": [json.dumps(r, ensure_ascii=False) for r in found]},
                                 dtype=object)
            con.from_df(frame).write_parquet(os.path.join(folder, table + ".parquet"))
    finally:
        con.close()


def _read_parquet(folder: str) -> Rows:
    if not os.path.isdir(folder):
        raise StoreError(f"{folder!r} is not a folder of .parquet tables")
    rows: Rows = {}
    con = _memory_duckdb()
    try:
        for table in TRANSFERRED:
            file = os.path.join(folder, table + ".parquet")
            if not os.path.exists(file):
                continue
            try:
                found = con.execute("SELECT row FROM read_parquet(?)", [file]).fetchall()
                rows[table] = [json.loads(r[0]) for r in found]
            except Exception as exc:  # noqa: BLE001 (duckdb's and json's errors alike)
                raise StoreError(f"{file} is not an agentmem Parquet table ({exc})") from None
            for number, row in enumerate(rows[table], start=1):
                if isinstance(row, dict):  # (else import_rows says it is not a row)
                    _check_depth(row, f"{file}, row {number}")
    finally:
        con.close()
    return rows


# --- Markdown: the conversations as they read ----------------------------------
def _write_markdown(rows: Rows, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(transcript(rows))


def transcript(rows: Rows) -> Iterator[str]:
    """The sessions' messages in order, then the memories, as Markdown."""
    runs = {r["run_id"]: r for r in rows.get("runs", [])}
    by_session: dict[str, list[dict[str, Any]]] = {}
    for message in rows.get("messages", []):
        if message.get("deleted_at") is None:
            by_session.setdefault(message["session_id"], []).append(message)
    for session in rows.get("sessions", []):
        sid = session["session_id"]
        yield f"# Session {sid}\n\nuser: {session.get('user_id') or '-'}\n\n"
        messages = sorted(by_session.get(sid, []), key=lambda m: (
            runs.get(m["run_id"], {}).get("seq", 0), m["seq"]))
        for m in messages:
            yield f"**{str(m['role']).capitalize()}** ({m['created_at']}):\n\n"
            yield (m.get("content") or "") + "\n\n"
    memories = [m for m in rows.get("memories", []) if m.get("deleted_at") is None]
    if memories:
        yield "# Memories\n\n"
        for m in memories:
            topics = f" ({', '.join(m.get('topics') or [])})" if m.get("topics") else ""
            yield f"- {m['memory']}{topics}\n"
