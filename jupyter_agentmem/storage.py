"""Session storage classes with phidata's names (``from jupyter_agentmem.storage import ...``)."""

from .store.handles import (
    AgentStorage,
    DuckDbAgentStorage,
    PgAgentStorage,
    SqlAgentStorage,
    SqliteAgentStorage,
)

__all__ = ["AgentStorage", "DuckDbAgentStorage", "PgAgentStorage", "SqlAgentStorage",
           "SqliteAgentStorage"]
