"""The ``%agent`` outputs in a real terminal IPython (prompt_toolkit, through a pty 120
columns wide): aligned plain text, short ids, each output printed once."""

from __future__ import annotations

import os
import re
import sys

import pexpect
from sample_outputs import BOB_WORDS, TRIP_NAME, seed

from jupyter_agentmem.store import DuckDbStore

# prompt_toolkit's cursor and mode sequences, and carriage returns.
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}", re.I)
LINES = [
    "%load_ext jupyter_agentmem",
    "%config AgentMagics.user = 'ana'",
    "%agent memories",
    "%agent history session=lisbon-trip",
    "%agent usage by=session",
    "%agent search tea limit=3",
    "%agent context session=lisbon-trip",
]


def run_in_terminal(db: str, home: str) -> list[str]:
    """What the terminal shows after each line of ``LINES``."""
    env = {**os.environ, "AGENTMEM_DB": db, "IPYTHONDIR": home, "TERM": "xterm-256color",
           "PROMPT_TOOLKIT_NO_CPR": "1", "COLUMNS": "", "LINES": ""}
    env = {k: v for k, v in env.items() if v}
    child = pexpect.spawn(sys.executable, ["-m", "IPython", "--colors=NoColor", "--no-banner",
                                           "--no-confirm-exit"],
                          env=env, dimensions=(50, 120), encoding="utf-8", timeout=60)
    try:
        child.expect(r"In \[1\]:")
        shown = []
        for n, line in enumerate(LINES, start=2):
            child.sendline(line)
            child.expect(rf"In \[{n}\]:")
            # After the echoed line: the output (prompt_toolkit redraws the input line).
            text = CONTROL.sub("", child.before).split(line)[-1].strip("\n")
            shown.append("\n".join(r.rstrip() for r in text.split("\n")))
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return shown


def columns_start(header: str, names: list[str]) -> list[int]:
    return [re.search(rf"(?<!\S){re.escape(n)}(?!\S)", header).start() for n in names]


def test_outputs_in_a_terminal(tmp_path):
    db = str(tmp_path / "agentmem.duckdb")
    store = DuckDbStore(db)
    seed(store)
    store.close()
    shown = dict(zip(LINES, run_in_terminal(db, str(tmp_path / "ipython"))))
    for line, text in shown.items():
        assert not UUID.search(text), (line, text)
        assert BOB_WORDS not in text and "Traceback" not in text, (line, text)

    memories = shown["%agent memories"].split("\n")
    assert memories[0] == "Out[3]:" and memories[1] == "4 memories of user ana"
    header = memories[2]
    starts = columns_start(header, ["memory", "topics", "updated", "session", "id"])
    rows = [r for r in memories[4:] if r.strip()]
    assert len(rows) == 4
    for row in rows:  # every value starts under its header
        assert [row[s - 1] if s else " " for s in starts] == [" "] * 5, row
        assert re.fullmatch(r"[0-9a-f]{8}", row[starts[4]:].strip()), row
        assert re.search(r"  \d{4}-\d\d-\d\d \d\d:\d\d  ", row), row

    history = shown["%agent history session=lisbon-trip"]
    assert history.count("run 0 · ") == 1  # printed once
    assert "\n  user       I'm planning a weekend in Lisbon in May.\n" \
           "             I love green tea and azulejo tiles.\n" in history
    assert re.search(r"\nrun 3 · [0-9: -]+ · interrupted: no reply stored\n"
                     r"  user       Can you book a table for two\?", history)
    assert "\\n" not in history

    usage = shown["%agent usage by=session"].split("\n")
    (header,) = [r for r in usage if r.startswith("session ")]
    body = usage[usage.index(header) + 2:]
    trip = next(r for r in body if TRIP_NAME in r)
    assert trip.startswith("lisbon-trip") and trip.rstrip().endswith("$0.0004")
    right = header.index("cost") + len("cost")
    costs = [r for r in body if "$" in r]
    assert len(costs) == 2 and all(len(r) == right for r in costs)  # under their header

    search = shown["%agent search tea limit=3"]
    assert "3 hits for 'tea', user ana" in search and "Ana loves green tea." in search

    context = shown["%agent context session=lisbon-trip"]
    assert re.match(r"Run [0-9a-f]{8} · session lisbon-trip\ntokens: system 186", context)
    assert re.search(r"\n  history   318  █{15} +51%\n", context)
