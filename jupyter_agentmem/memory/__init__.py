"""Memory: chat history, user memories and session summaries (no IPython here)."""

from .agent_memory import AgentMemory
from .db import DuckDbMemoryDb, MemoryDb, PgMemoryDb, SqliteMemoryDb

__all__ = ["AgentMemory", "DuckDbMemoryDb", "MemoryDb", "PgMemoryDb", "SqliteMemoryDb"]
