"""4 real Jupyter kernels x %%agent cells on one DuckDB file (memories on, sessions shared
between kernels) while a fifth kernel edits memories in the panel: nothing is lost.

CI runs 4 x 8 cells and 15 panel edits (``AGENTMEM_FLEET_CELLS`` / ``_EDITS`` change
it); bench/bench_kernels.py runs 4 x 50 and records the lock waits in bench/RESULTS.md.
"""

from __future__ import annotations

import gc
import json
import os
from collections import Counter

import pytest
from kernel_fleet import run_fleet

from jupyter_agentmem.model.demo import demo_responder
from jupyter_agentmem.model.server import ChatServer
from jupyter_agentmem.store import DuckDbStore

WRITERS = 4
CELLS = int(os.environ.get("AGENTMEM_FLEET_CELLS", "8"))
EDITS = int(os.environ.get("AGENTMEM_FLEET_EDITS", "15"))


def check_nothing_lost(db: str, result: dict, writers: int, cells: int) -> dict:
    store = DuckDbStore(db).as_user("ana")
    try:
        for s in range(2):
            runs = store.session_runs(f"shared-{s}")
            assert [r.seq for r in runs] == list(range(len(runs)))  # no gap, no duplicate
            assert all(r.status == "ok" and len(r.messages) == 2 for r in runs)
        said = Counter(r.messages[0].content for s in range(2)
                       for r in store.session_runs(f"shared-{s}"))
        assert said == Counter(f"I live in town {k}x{i}." for k in range(writers)
                               for i in range(cells))  # every message, once
        events = store.as_user("ana").events()
        memories = {m.memory_id: m for m in store.as_user("ana").user_memories()}
        added = [e["target_id"] for e in events if e["action"] == "add"]
        assert added and sorted(added) == sorted(memories)  # every memory added is there
        edits = [tuple(e) for e in result["kernels"][writers]["edits"]]
        user_updates = [e for e in events if e["actor"] == "user"]
        assert len(user_updates) == len(edits)  # every saved edit stored, once
        last = {memory_id: topics for memory_id, topics in edits}
        for memory_id, topics in last.items():
            assert memories[memory_id].topics == topics  # the last edit is what is kept
        for e in user_updates:  # a topics edit never wrote the text
            assert json.loads(e["old"])["memory"] == json.loads(e["new"])["memory"]
        return {"runs": sum(said.values()), "memories": len(memories), "edits": len(edits),
                "refused": len(result["kernels"][writers]["refused"])}
    finally:
        store.close()


# jupyter_client's kernel managers leave their ZMQ sockets and an event loop to the
# garbage collector (after shutdown_kernel and stop_channels): not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_four_kernels_and_a_panel_share_one_file(tmp_path):
    server = ChatServer(demo_responder).start()
    try:
        db = str(tmp_path / "fleet.duckdb")
        result = run_fleet(db, server.base_url, WRITERS, CELLS, EDITS)
    finally:
        server.stop()
    counts = check_nothing_lost(db, result, WRITERS, CELLS)
    assert counts["runs"] == WRITERS * CELLS and counts["edits"] > 0
    gc.collect()  # jupyter_client's leftovers (sockets, an event loop) go here, not later
