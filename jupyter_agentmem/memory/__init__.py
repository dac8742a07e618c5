"""Memory: chat history, user memories and session summaries (no IPython here).

``AgentMemory`` is phidata's memory object; the work after a run (memories, the
summary) runs on a background job queue (``worker.py``) built by ``jobs.py``.
"""

from .agent_memory import AgentMemory
from .db import DuckDbMemoryDb, MemoryDb, PgMemoryDb, SqliteMemoryDb
from .helpers import MemoryClassifier, MemoryManager, MemorySummarizer
from .jobs import catch_up_summary, take_failures, wait_for_memory_work
from .worker import MemoryWorkWarning

__all__ = ["AgentMemory", "DuckDbMemoryDb", "MemoryClassifier", "MemoryDb", "MemoryManager",
           "MemorySummarizer", "MemoryWorkWarning", "PgMemoryDb", "SqliteMemoryDb",
           "catch_up_summary", "take_failures", "wait_for_memory_work"]
