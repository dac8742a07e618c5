"""Cell-aware history: which notebook cell a run came from, and re-runs that supersede.

A run that worked and carries a cell id supersedes the earlier runs of the same cell in
its session: they stay stored, marked ``superseded_by`` the new run, and history leaves
them out. Called inside ``append_run``'s transaction.
"""

from __future__ import annotations

from ...types import Run
from .engine import Connection

LIVE = "status = 'ok' AND superseded_by IS NULL"  # the runs history may send
# A run's status as %agent history and the panel show it.
SHOWN_STATUS = "CASE WHEN superseded_by IS NULL THEN status ELSE 'superseded' END"


def record(con: Connection, run: Run) -> bool:
    """Store the run's cell; supersede that cell's earlier runs. True if any was."""
    if run.cell_id is None:
        return False
    con.execute("UPDATE runs SET cell_id = ? WHERE run_id = ?", [run.cell_id, run.run_id])
    if not (run.supersede_cell and run.status == "ok"):
        return False
    replaced = con.execute(
        "UPDATE runs SET superseded_by = ? WHERE session_id = ? AND cell_id = ? "
        "AND run_id <> ? AND superseded_by IS NULL RETURNING run_id",
        [run.run_id, run.session_id, run.cell_id, run.run_id]).fetchall()
    return bool(replaced)
