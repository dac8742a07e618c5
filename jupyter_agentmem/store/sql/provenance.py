"""Provenance: which runs each memory and summary version came from (``provenance`` table).

Written in the transaction of the memory or summary it describes; read by
``sql/purge.py`` to find what was derived from the runs it purges. A memory updated
by a later run gains that run too. The memory store may be another database than the
session store (phidata's separate memory db), so a row names its run and the run's
session without requiring the run to be in the same database.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...types import Run
from ..base import StoreError
from .engine import Connection

MEMORY = "memory"
SUMMARY = "summary"


def record(con: Connection, target: str, target_id: str, runs: Sequence[Run],
           user_id: str | None) -> None:
    """``target_id`` came from ``runs`` (inside the caller's transaction)."""
    wanted = {run.run_id: run.session_id for run in runs}
    if not wanted:
        return
    marks = ", ".join("?" for _ in wanted)
    # A run purged meanwhile (its numbers stay in the ledger as a 'chat' call, and
    # nowhere else): what was derived from it is refused, not stored after the purge.
    purged = con.execute(
        f"SELECT run_id FROM model_calls WHERE kind = 'chat' AND run_id IN ({marks})",
        list(wanted)).fetchall()
    if purged:
        raise StoreError(f"run {purged[0][0]} was purged: nothing derived from it is kept")
    known = {r[0] for r in con.execute(
        f"SELECT run_id FROM provenance WHERE target = ? AND target_id = ? "
        f"AND run_id IN ({marks})", [target, target_id, *wanted]).fetchall()}
    new = [(run_id, session_id) for run_id, session_id in wanted.items() if run_id not in known]
    if new:
        con.execute("INSERT INTO provenance VALUES "
                    + ", ".join(["(?, ?, ?, ?, ?)"] * len(new)),
                    [v for run_id, session_id in new
                     for v in (target, target_id, run_id, session_id, user_id)])


def targets_of_runs(con: Connection, target: str, run_ids: Sequence[str]) -> set[str]:
    """The ``target`` ids (memories or summary versions) derived from any of ``run_ids``."""
    found: set[str] = set()
    ids = list(run_ids)
    for start in range(0, len(ids), 500):  # a bounded number of placeholders
        chunk = ids[start:start + 500]
        found |= {r[0] for r in con.execute(
            "SELECT DISTINCT target_id FROM provenance WHERE target = ? AND run_id IN ("
            + ", ".join("?" for _ in chunk) + ")", [target, *chunk]).fetchall()}
    return found


def with_provenance(con: Connection, target: str, target_ids: Sequence[str]) -> set[str]:
    """Those of ``target_ids`` that have any provenance row (the others: unknown)."""
    found: set[str] = set()
    ids = list(target_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found |= {r[0] for r in con.execute(
            "SELECT DISTINCT target_id FROM provenance WHERE target = ? AND target_id IN ("
            + ", ".join("?" for _ in chunk) + ")", [target, *chunk]).fetchall()}
    return found
