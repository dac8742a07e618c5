"""The editable panel: ``panel()`` / ``%agent panel`` (ipywidgets + ipydatagrid)."""

from .app import AgentPanel, panel

__all__ = ["AgentPanel", "panel"]
