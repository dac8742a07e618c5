"""jupyter_agentmem: talk to an LLM from a notebook, and have it remember.

``%load_ext jupyter_agentmem`` adds the ``%%agent`` magic. The Python API uses
phidata's names. Importing this package stays cheap: openai, pandas and ipywidgets
are imported where first needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Agent": ".agent",
    "AgentMemory": ".memory",
    "OpenAIChat": ".model",
    "ModelError": ".model",
    "RunResponse": ".types",
    "Message": ".types",
    "DuckDbAgentStorage": ".storage",
    "DuckDbMemoryDb": ".memory",
    "DuckDbStore": ".store",
    "panel": ".notebook.panel",
    "search": ".ranked",
}

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .agent import Agent
    from .memory import AgentMemory, DuckDbMemoryDb
    from .model import ModelError, OpenAIChat
    from .notebook.panel import panel
    from .ranked import search
    from .storage import DuckDbAgentStorage
    from .store import DuckDbStore
    from .types import Message, RunResponse

__all__ = [
    "Agent", "AgentMemory", "DuckDbAgentStorage", "DuckDbMemoryDb", "DuckDbStore", "Message",
    "ModelError", "OpenAIChat", "RunResponse", "load_ipython_extension", "panel", "search",
    "unload_ipython_extension",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext jupyter_agentmem``: register ``%%agent`` and ``%agent``."""
    from .notebook.magics import AgentMagics

    ipython.register_magics(AgentMagics(shell=ipython))


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """``%unload_ext jupyter_agentmem``: remove the magics."""
    from .notebook.magics import unregister

    unregister(ipython)
