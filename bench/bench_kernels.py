"""4 real kernels x 50 %%agent cells on one DuckDB file + a fifth editing memories in the
panel (tests/kernel_fleet.py): what was kept, and how long the handover lock waits were.

    .venv/bin/python bench/bench_kernels.py [CELLS] [EDITS]     (default: 50 50)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from kernel_fleet import percentile, run_fleet  # noqa: E402
from test_kernels import check_nothing_lost  # noqa: E402

from jupyter_agentmem.model.demo import demo_responder  # noqa: E402
from jupyter_agentmem.model.server import ChatServer  # noqa: E402


def main() -> None:
    cells = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    edits = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    server = ChatServer(demo_responder).start()
    try:
        db = str(Path(tempfile.mkdtemp(prefix="bench-fleet-")) / "fleet.duckdb")
        result = run_fleet(db, server.base_url, 4, cells, edits)
    finally:
        server.stop()
    counts = check_nothing_lost(db, result, 4, cells)  # raises if anything was lost
    print(f"4 kernels x {cells} cells + {edits} panel edits in {result['seconds']:.1f} s: "
          f"{counts}")
    for k, got in sorted(result["kernels"].items()):
        waits = [w * 1000 for w in got["waits"]]
        print(f"kernel {k} ({'panel' if k == 4 else 'writer'}): {len(waits)} lock "
              f"acquisitions, wait p50 {percentile(waits, 0.5):.1f} ms, p99 "
              f"{percentile(waits, 0.99):.1f} ms, max {max(waits, default=0):.1f} ms")
    every = [w * 1000 for got in result["kernels"].values() for w in got["waits"]]
    print(f"all: {len(every)} acquisitions, p50 {percentile(every, 0.5):.1f} ms, "
          f"p99 {percentile(every, 0.99):.1f} ms")


if __name__ == "__main__":
    main()
