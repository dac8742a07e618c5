"""``%%agent`` in terminal IPython, through a real pty: each reply is printed once, as it
streams, with the demo notice and an error in plain words (issue 18).

Terminal IPython's display publisher prints every display update again: a streamed reply
showed its first 16 characters (``[demo model: a s``), then the whole text. There the
reply is now written to the terminal as it arrives.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pexpect
from model_server import Reply

IPYTHON = str(Path(sys.executable).parent / "ipython")
REPLY = ("The first sentence of a streamed reply. The second one arrives later, "
         "in pieces of sixteen characters. The end.")
NOTICE = "[demo model: a scripted echo, not an LLM]"


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


class Terminal:
    """IPython in a pty; ``cell`` types a cell and returns what the terminal showed."""

    def __init__(self, tmp_path: Path, base_url: str) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "AGENTMEM_"))}
        env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="sk-test-secret",
                   AGENTMEM_DB=str(tmp_path / "agentmem.duckdb"),
                   IPYTHONDIR=str(tmp_path / "ipython"), TERM="dumb")
        # --simple-prompt: the same TerminalInteractiveShell and display publisher,
        # without prompt_toolkit's screen redraws in what the test reads.
        self.p = pexpect.spawn(IPYTHON, ["--simple-prompt", "--no-banner", "--colors=NoColor"],
                               env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
        self.count = 1
        self.p.expect(r"In \[1\]: ")

    def send(self, text: str) -> None:
        for line in text.split("\n"):
            self.p.sendline(line)
        if "\n" in text:  # a cell: blank lines end it
            self.p.sendline("")
            self.p.sendline("")

    def wait_prompt(self) -> str:
        self.count += 1
        self.p.expect(rf"In \[{self.count}\]: ")
        return self.p.before.replace("\r\n", "\n")

    def cell(self, text: str) -> str:
        self.send(text)
        return self.wait_prompt()

    def close(self) -> None:
        self.p.sendline("exit")
        self.p.expect(pexpect.EOF)


def test_terminal_ipython_prints_each_reply_once_as_it_streams(tmp_path, server):
    server.script(Reply(content=REPLY, chunk_delay=0.3))
    term = Terminal(tmp_path, server.base_url)
    try:
        for line in ("%load_ext jupyter_agentmem", "%config AgentMagics.model = 'test-model'",
                     "%config AgentMagics.max_retries = 0"):
            term.cell(line)

        term.send("%%agent session=t\nTell me something")
        # Streamed: the first piece is on the screen while the last is still to come
        # (the server waits 0.3 s between pieces: 1.8 s between the first and the last).
        term.p.expect(re.escape(REPLY[:16]))
        assert "The end." not in term.p.before + term.p.after + term.p.buffer
        shown = REPLY[:16] + term.wait_prompt()
        assert shown.count(REPLY) == 1, shown
        assert shown.count("The first senten") == 1, shown  # printed twice before
        assert "\n-- session t · test-model · " in shown and "`" not in shown

        shown = term.cell("%%agent model=demo session=d\nhello there")
        assert shown.count(NOTICE) == 1, shown
        assert shown.count("You said: hello there") == 1, shown

        shown = term.cell("%%agent session=t memories=on\nI like tea and {undefined_df}")
        assert shown.count("echo: I like tea and {undefined_df}") == 1, shown
        assert "-- {undefined_df}: no such variable, sent as written" in shown
        assert shown.count("memory: ") == 1, shown  # the worker does not print it again

        url = closed_port_url()
        term.cell(f"%config AgentMagics.base_url = {url!r}")
        shown = term.cell("%%agent session=t\nAnyone there?")
        assert (f"Model error (error): Could not reach the model server at {url} "
                "([Errno 111] Connection refused). Check that the server is running, or set "
                "another address with %config AgentMagics.base_url = '<url>'.") in shown
        assert "**" not in shown
        term.close()
    finally:
        if term.p.isalive():
            term.p.terminate(force=True)
