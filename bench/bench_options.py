"""The option line: our linear reader against shlex.split and IPython's variable expansion.

    .venv/bin/python bench/bench_options.py [--expand]

Prints, per line shape and size, the time to read the line with
``notebook.options.parse_options`` (what the magics use), with ``shlex.split`` (what
they used), and with ``--expand`` also ``shell.var_expand`` (what IPython did to the
line before ``no_var_expand``; minutes at 200,000 characters, so opt-in).
"""

from __future__ import annotations

import shlex
import sys
import time

from IPython.core.error import UsageError

from jupyter_agentmem.notebook import options as opt
from jupyter_agentmem.notebook.magics import CELL_OPTIONS, CELL_USAGE

SHAPES = {
    "one long quoted value": lambda n: "system=" + shlex.quote("You are terse. " * (n // 15)),
    "one bare word": lambda n: "system=" + "x" * n,
    "'a' pieces": lambda n: "system=" + "'a'" * (n // 3),
    '"\\"a" pieces': lambda n: "system=" + '"\\"a"' * (n // 5),
    "unclosed quote": lambda n: 'system="' + "a" * n,
    "many words (refused)": lambda n: "a " * (n // 2),
}


def timed(fn, *args) -> float:
    start = time.perf_counter()
    try:
        fn(*args)
    except (UsageError, ValueError):
        pass
    return time.perf_counter() - start


def main() -> None:
    print("| line | characters | ours ms | shlex.split ms |")
    print("|---|---|---|---|")
    for shape, make in SHAPES.items():
        for n in (20_000, 100_000, 1_000_000):
            line = make(n)
            ours = min(timed(opt.parse_options, line, CELL_OPTIONS, CELL_USAGE)
                       for _ in range(3))
            ref = f"{timed(shlex.split, line) * 1e3:.0f}" if n <= 100_000 else "-"
            print(f"| {shape} | {len(line):,} | {ours * 1e3:.1f} | {ref} |", flush=True)
    if "--expand" in sys.argv:
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance()
        print("\n| line (IPython var_expand, before no_var_expand) | characters | s |")
        print("|---|---|---|")
        for n in (5_000, 10_000, 20_000):
            for shape, make in (("one bare word", SHAPES["one bare word"]),
                                ("$ signs", lambda n: "system=" + "$" * n)):
                line = make(n)
                print(f"| {shape} | {len(line):,} | {timed(shell.var_expand, line):.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
