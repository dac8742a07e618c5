"""What each run sent the model: its messages, each distinct one stored once by hash.

A run's request repeats most of the previous one (system text, history), so a message
is stored once in ``request_parts`` under the sha256 of its JSON, and ``run_contexts``
keeps the run's list of hashes and its token split. Reading puts the request back
exactly: the same dicts, keys in the same order.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...types import Run, RunContext
from .engine import Connection


def part_json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def write(con: Connection, run: Run) -> None:
    """Store ``run.context`` (inside the caller's transaction)."""
    context = run.context
    if context is None:
        return
    parts = [part_json(m) for m in context.messages]
    hashes = [hashlib.sha256(p.encode()).hexdigest() for p in parts]
    unique = dict(zip(hashes, parts))
    if unique:
        # One multi-row INSERT; a part already stored (the same system text, history
        # message...) is skipped by the primary key.
        con.execute("INSERT INTO request_parts VALUES " + ", ".join(["(?, ?)"] * len(unique))
                    + " ON CONFLICT DO NOTHING",
                    [v for item in unique.items() for v in item])
    con.execute("INSERT INTO run_contexts VALUES (?, ?, ?, ?, ?)",
                [run.run_id, run.session_id, json.dumps(hashes), json.dumps(context.tokens),
                 context.estimated])


def read(con: Connection, run_id: str) -> RunContext | None:
    row = con.execute("SELECT parts, tokens, estimated FROM run_contexts WHERE run_id = ?",
                      [run_id]).fetchone()
    if row is None:
        return None
    hashes = json.loads(row[0])
    found: dict[str, str] = {}
    for h in dict.fromkeys(hashes):
        part = con.execute("SELECT body FROM request_parts WHERE part_hash = ?",
                           [h]).fetchone()
        if part is not None:
            found[h] = part[0]
    messages = [json.loads(found[h]) for h in hashes if h in found]
    return RunContext(messages=messages, tokens=json.loads(row[1]), estimated=bool(row[2]))
