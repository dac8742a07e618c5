"""The DataFrames ``%agent`` returns, readable in a notebook: text left-aligned, kept whole.

pandas' HTML table right-aligns every cell (JupyterLab's CSS) and cuts text at 50
characters, so a message read as a ragged narrow column of "...". ``TextFrame`` is a
plain DataFrame for code; only its notebook display differs.
"""

from __future__ import annotations

import pandas as pd

_STYLE = ("<style>.agentmem-frame td, .agentmem-frame th {text-align: left; "
          "vertical-align: top} .agentmem-frame td {white-space: pre-wrap; "
          "max-width: 60em}</style>")


class TextFrame(pd.DataFrame):
    """A DataFrame shown with its cells left-aligned and text up to 2,000 characters."""

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", 2000):
            table = super()._repr_html_()
        if table is None:
            return None
        return _STYLE + '<div class="agentmem-frame">' + table + "</div>"


# Runs that got no reply stored: an interrupted one (the process stopped before its
# reply was stored) holds the user's message alone.
_NO_REPLY = ("interrupted", "error", "cancelled")


def readable_history(rows: list[dict], all_columns: list[str], show_all: bool) -> pd.DataFrame:
    """A session's messages: run, role, content and time (``show_all``: every column),
    and each run's status when some run has no reply (interrupted, error, cancelled)."""
    frame = pd.DataFrame(rows, columns=all_columns)
    if show_all:
        return frame
    view = pd.DataFrame({"run": frame["run_seq"], "role": frame["role"],
                         "content": frame["content"],
                         "time": pd.to_datetime(frame["created_at"]).dt.floor("s")})
    if frame["status"].isin(_NO_REPLY).any():
        view["status"] = frame["status"]
    return TextFrame(view)
