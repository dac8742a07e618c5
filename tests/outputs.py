"""What a captured cell showed as text: what it printed, then its displays' text/plain
(``%agent context`` displays an object: HTML in a notebook, text elsewhere)."""

from __future__ import annotations


def shown_text(out) -> str:
    return out.stdout + "".join(o.data.get("text/plain", "") + "\n" for o in out.outputs)
