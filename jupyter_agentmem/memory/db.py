"""Memory-db classes with phidata's names: where user memories and their events are kept."""

from ..store.handles import DuckDbMemoryDb, MemoryDb, PgMemoryDb, SqliteMemoryDb

__all__ = ["DuckDbMemoryDb", "MemoryDb", "PgMemoryDb", "SqliteMemoryDb"]
