"""Files of turns in flight as a process that died left them, for the tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from jupyter_agentmem.store.files import private_folder
from jupyter_agentmem.store.journal import file_name
from jupyter_agentmem.store.sql.staged import turn_entry
from jupyter_agentmem.types import Message, Run


def a_run(text: str, session: str = "s") -> Run:
    return Run(session_id=session, model="m", messages=[Message(role="user", content=text)])


def dead_writer() -> str:
    """The writer id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:"


def line_of(run: Run, user: str | None = "ana") -> bytes:
    """``run``'s line in a file of turns in flight."""
    return (json.dumps(turn_entry(run, user)) + "\n").encode()


def turn_file(store, writer: str, data: bytes, mode: str = "wb") -> str:
    """The file of turns in flight of ``writer`` holding ``data`` (``mode="ab"``: added
    to what it holds), as its process left it."""
    folder = store.engine.journal.folder
    private_folder(folder)
    path = os.path.join(folder, file_name(writer))
    with open(path, mode) as f:
        f.write(data)
    return path


def write_turn_file(store, writer: str, run: Run, user: str | None) -> str:
    """A file of turns in flight of ``writer`` holding ``run`` (added to it)."""
    return turn_file(store, writer, line_of(run, user), "ab")
