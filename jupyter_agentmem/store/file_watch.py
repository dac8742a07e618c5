"""The database file an engine has open, looked at again before each use.

Deleted (or moved away) under a running kernel, a file would otherwise be written on
unlinked, its runs lost at the close (SQLite keeps its connection: every later turn;
DuckDB within its idle second), or re-created empty by the next open, without its
tables (DuckDB after a handover: every cell raised CatalogException). So each engine
compares the file at its path with the one it opened (device and inode: one ``stat``,
~2 us, at the outermost use of the connection) and says plainly what happened.
"""

from __future__ import annotations

import os

from .base import StoreError

Identity = tuple[int, int]  # (st_dev, st_ino)


def identity(path: str) -> Identity | None:
    """The file at ``path`` (None: there is none)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_dev, info.st_ino


class WatchedFile:
    """The file an engine opened at ``path``; what is there now."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.opened: Identity | None = None  # None: not opened yet in this process

    def remember(self) -> None:
        """The engine has just opened the file: this is the one to keep using."""
        self.opened = identity(self.path)

    def state(self) -> str:
        """``same``, ``deleted`` (nothing at the path since we opened it) or
        ``replaced`` (another file there: moved in, or rewritten by a purge)."""
        if self.opened is None:
            return "same"
        now = identity(self.path)
        if now == self.opened:
            return "same"
        return "deleted" if now is None else "replaced"

    def deleted(self) -> StoreError:
        return StoreError(
            f"The agent database {self.path} was deleted (or moved away) while this "
            "kernel was using it: nothing more is written to it (a new empty one is not "
            "made in its place). Put the file back to go on with it, or restart the "
            "kernel to start a new empty database there (or %config AgentMagics.db = "
            "'<another path>').")
