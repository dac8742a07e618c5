"""Colours and CSS of the ``%agent`` HTML outputs, readable in JupyterLab's light and dark
themes: text and lines take JupyterLab's CSS variables (with a fallback that inherits
elsewhere: classic Notebook, VS Code), never a fixed black or white."""

from __future__ import annotations

TEXT = "var(--jp-ui-font-color1, inherit)"
LINE = "var(--jp-border-color2, rgba(127, 127, 127, 0.35))"
SURFACE = "var(--jp-layout-color2, rgba(127, 127, 127, 0.1))"
ACCENT = "var(--jp-brand-color1, #1976d2)"
ERROR = "var(--jp-error-color1, #d32f2f)"
WARN = "var(--jp-warn-color1, #f57c00)"
# A half-transparent yellow reads under dark text (light theme) and light text (dark).
MARK = "rgba(255, 196, 0, 0.45)"
FONT = "var(--jp-ui-font-family, system-ui, sans-serif)"
FONT_SIZE = "var(--jp-ui-font-size1, 13px)"

# Mid-tone colours (Tableau 10): each stands out on white and on JupyterLab's dark grey.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#e15759", "#edc948")

# Status badges: a coloured outline and text, no fill (one colour reads on both themes).
BADGE_CSS = (
    ".agentmem-badge {display: inline-block; padding: 0 6px; margin-left: 6px; "
    "border: 1px solid currentColor; border-radius: 8px; font-size: 0.85em; "
    "line-height: 1.5}"
    f".agentmem-badge-error {{color: {ERROR}}}"
    f".agentmem-badge-interrupted, .agentmem-badge-cancelled {{color: {WARN}}}"
    f".agentmem-root mark {{background: {MARK}; color: inherit; padding: 0 1px; "
    "border-radius: 2px}"
    ".agentmem-muted {opacity: 0.7}"
)

STATUS_WORDS = {
    "error": "failed",
    "cancelled": "cancelled",
    "interrupted": "interrupted: no reply stored",
}


def badge(status: str) -> str:
    """An outlined badge for a run that did not end well (``status`` is ours, not a user's)."""
    return (f'<span class="agentmem-badge agentmem-badge-{status}">'
            f"{STATUS_WORDS.get(status, status)}</span>")
