"""Per-turn time on DuckDB, SQLite and PostgreSQL, one after another, twice.

Runs ``bench_turns.py --turns 1000`` for each backend (PostgreSQL: a throwaway server
started by ``tests/pg_server.py``, ``fsync=off``, stopped at the end), in two rounds, and
prints each run's windows and median.

Run: .venv/bin/python bench/bench_backends.py
"""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from pg_server import PgServer  # noqa: E402 (the tests' server helper)


def main() -> None:
    pg = PgServer().start()
    try:
        for round_ in (1, 2):
            for db in ("duckdb", "sqlite", pg.new_database()):
                out = subprocess.run([sys.executable, os.path.join(HERE, "bench_turns.py"),
                                      "--turns", "1000", "--db", db],
                                     capture_output=True, text=True, check=True).stdout
                print(f"== round {round_}: {'postgresql' if '://' in db else db}")
                print("\n".join(line for line in out.splitlines() if line.strip()))
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
