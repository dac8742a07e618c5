"""``%load_ext jupyter_agentmem`` time in a fresh process, and the slowest imports.

    .venv/bin/python bench/bench_load_ext.py [--runs 10]

Each run starts a fresh Python, builds an IPython ``InteractiveShell`` (not timed)
and times ``%load_ext jupyter_agentmem``. Then
``python -X importtime -c "import jupyter_agentmem.notebook.magics"`` lists the imports that
cost most (cumulative microseconds). Target: load_ext under 150 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

# "heavy": what %load_ext's own thread imported (the background imports it starts,
# notebook/preload.py, run in another thread after it returned).
ONE_RUN = """
import json, sys, threading, time
HEAVY = ("openai", "pandas", "ipywidgets", "duckdb", "pydantic")
heavy = []
class Who:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and threading.current_thread() is threading.main_thread():
            heavy.append(name)
sys.meta_path.insert(0, Who())
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t0 = time.perf_counter()
ip.run_line_magic("load_ext", "jupyter_agentmem")
ms = (time.perf_counter() - t0) * 1000
print(json.dumps({"ms": ms, "heavy": heavy}))
"""


def load_ext_runs(n: int) -> list[dict]:
    runs = []
    for _ in range(n):
        out = subprocess.run([sys.executable, "-c", ONE_RUN], capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(out.stdout.splitlines()[-1]))
    return runs


def import_times(top: int) -> list[tuple[int, int, str]]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c",
                          "import jupyter_agentmem.notebook.magics"],
                         capture_output=True, text=True, check=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cum_us, name = (part.strip() for part in line[len("import time:"):].split("|"))
        rows.append((int(cum_us), int(self_us), name))
    return sorted(rows, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    runs = load_ext_runs(args.runs)
    times = [r["ms"] for r in runs]
    print(f"%load_ext jupyter_agentmem, fresh process x {args.runs}: median "
          f"{statistics.median(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f}); "
          "target < 150 ms")
    print("heavy modules imported by load_ext itself:",
          sorted({m for r in runs for m in r["heavy"]}))
    print(f"\npython -X importtime -c 'import jupyter_agentmem.notebook.magics', top {args.top}:")
    print(f"{'cumulative ms':>14} {'self ms':>8}  module")
    for cum, self_, name in import_times(args.top):
        print(f"{cum / 1000:>14.1f} {self_ / 1000:>8.1f}  {name}")


if __name__ == "__main__":
    main()
