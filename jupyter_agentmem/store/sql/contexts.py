"""What each run sent the model: its messages, each distinct one stored once by hash.

A run's request repeats most of the previous one (system text, history), so a message
is stored once in ``request_parts`` under the sha256 of its JSON, and ``run_contexts``
keeps the run's list of hashes, its token split and the earlier exchanges its prompt
recalled (``recall=N``: session, run and seq of each, JSON; NULL when none). Reading
puts the request back exactly: the same dicts, keys in the same order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from ...types import RecalledRun, Run, RunContext
from .engine import Connection


def part_json(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


def write(con: Connection, run: Run, lock: Callable[[Connection, str], None]) -> None:
    """Store ``run.context`` (inside the caller's transaction).

    ``lock`` is the engine's ``lock_session``: where several processes write
    (PostgreSQL) they add parts one at a time, so that the check below holds until
    COMMIT; DuckDB has one writer at a time and needs none.
    """
    context = run.context
    if context is None:
        return
    parts = [part_json(m) for m in context.messages]
    hashes = [hashlib.sha256(p.encode()).hexdigest() for p in parts]
    unique = dict(zip(hashes, parts))
    if unique:
        # The parts already stored (the same system text, the history...) are left out,
        # then one plain multi-row INSERT: *measured* (DuckDB 2.0.1) an INSERT ... ON
        # CONFLICT DO NOTHING costs ~1.4 ms more than a SELECT and a plain INSERT.
        lock(con, "request_parts")
        marks = ", ".join(["?"] * len(unique))
        stored = {row[0] for row in con.execute(
            f"SELECT part_hash FROM request_parts WHERE part_hash IN ({marks})",
            list(unique)).fetchall()}
        new = [item for item in unique.items() if item[0] not in stored]
        if new:
            con.execute("INSERT INTO request_parts VALUES " + ", ".join(["(?, ?)"] * len(new)),
                        [v for item in new for v in item])
    recalled = (json.dumps([r.model_dump() for r in context.recalled]) if context.recalled
                else None)
    con.execute("INSERT INTO run_contexts (run_id, session_id, parts, tokens, estimated, "
                "recalled) VALUES (?, ?, ?, ?, ?, ?)",
                [run.run_id, run.session_id, json.dumps(hashes), json.dumps(context.tokens),
                 context.estimated, recalled])


def read(con: Connection, run_id: str) -> RunContext | None:
    row = con.execute("SELECT parts, tokens, estimated, recalled, session_id "
                      "FROM run_contexts WHERE run_id = ?", [run_id]).fetchone()
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
    return RunContext(messages=messages, tokens=json.loads(row[1]), estimated=bool(row[2]),
                      recalled=[RecalledRun(**r) for r in json.loads(row[3] or "[]")],
                      session_id=row[4])
