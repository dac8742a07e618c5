"""What is wrong with a database file DuckDB could not open, in a user's words.

Every fault is one ``StoreError`` naming the file and saying what to do (the magics
show it as a ``UsageError``). Nothing here changes or deletes a file: a damaged
database or WAL is left where it is for the user to restore or move aside.
"""

from __future__ import annotations

import os

from ..base import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"
_WHERE = "%config AgentMagics.db = '<path>' or AGENTMEM_DB"


def _head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except OSError:
        return b""


def describe(path: str, exc: BaseException) -> str:
    """Why ``path`` could not be opened (``exc``: what DuckDB or the OS raised)."""
    text = str(exc)
    wal = path + ".wal"
    if os.path.isdir(path):
        return (f"The agent database {path} is a folder, not a file. Give a file path, "
                f"e.g. {os.path.join(path, 'agentmem.duckdb')} ({_WHERE}).")
    if isinstance(exc, PermissionError) or "Permission denied" in text:
        return (f"The agent database {path} cannot be opened: permission denied (it or its "
                "folder belongs to another user, or is not readable). Use a database of your "
                f"own ({_WHERE}), or ask its owner for access.")
    if isinstance(exc, (FileNotFoundError, NotADirectoryError)) or "No such file" in text:
        return (f"The folder of the agent database {path} does not exist and cannot be "
                f"created ({exc}). Check the path ({_WHERE}).")
    if isinstance(exc, OSError):
        return (f"The agent database {path} cannot be opened: {exc}. Check the path and "
                f"the disk ({_WHERE}).")
    if _head(path) == SQLITE_HEADER:
        return (f"The agent database {path} is a SQLite file, not a DuckDB one. Open it with "
                f"the SQLite backend (sqlite:///{path}), or use another file ({_WHERE}). "
                "The file is left untouched.")
    if "WAL" in text:
        return (f"The write-ahead log {wal} of the agent database {path} is damaged "
                f"({text.splitlines()[0]}). The database can be opened without it, losing "
                f"only the changes made since its last checkpoint: move the log aside "
                f"(mv '{wal}' '{wal}.damaged') and run the cell again. Nothing was deleted.")
    if "not a valid DuckDB database" in text:
        return (f"The agent database {path} is not a DuckDB database (it holds something "
                f"else). Use another file ({_WHERE}); this one is left untouched.")
    if any(s in text for s in ("Corrupt", "checksum", "Could not read enough bytes",
                               "truncated", "Could not read from file")):
        return (f"The agent database {path} is damaged (truncated or corrupt: "
                f"{text.splitlines()[0]}). Restore it from a backup, or use another file "
                f"({_WHERE}); it is left untouched.")
    if "lock" in text.lower():
        return (f"The agent database {path} is in use by another program that does not "
                f"share it (no agentmem lock). Close that program, or use another file "
                f"({_WHERE}).")
    return f"The agent database {path} cannot be opened: {text.splitlines()[0]}"


def file_fault(path: str, exc: BaseException) -> StoreError:
    return StoreError(describe(path, exc))


def read_only_reason(path: str) -> str | None:
    """Why this process may only read ``path`` (a read-only file, folder or mount)."""
    folder = os.path.dirname(path) or "."
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "the file is read-only"
    if os.path.exists(path) and not os.access(folder, os.W_OK):
        return "its folder is read-only"  # no WAL or lock file can be made there
    return None
