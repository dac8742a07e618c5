"""phidata's ``MemoryClassifier``, ``MemoryManager`` and ``MemorySummarizer``: which model
(and, for the manager, which user and db) the background memory work uses.

phidata runs them itself; here the memory work (``user_memories.py``,
``summaries.py``) does, and these hold what a phidata user passes to
``AgentMemory(classifier=, manager=, summarizer=)``. A ``model`` left ``None`` means
the agent's model (phidata's default is its own ``gpt-4o``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import ChatModel
from ..store import MemoryDb


@dataclass
class MemoryClassifier:
    """Decides whether a message holds something worth remembering (a yes/no call)."""

    model: ChatModel | None = None
    system_prompt: str | None = None


@dataclass
class MemoryManager:
    """Adds, updates and deletes a user's memories (a call with tools)."""

    model: ChatModel | None = None
    user_id: str | None = None
    system_prompt: str | None = None
    db: MemoryDb | None = None
    input_message: str | None = None


@dataclass
class MemorySummarizer:
    """Folds the session's runs into its summary."""

    model: ChatModel | None = None
    use_structured_outputs: bool = False
