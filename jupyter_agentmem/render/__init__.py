"""Showing a reply: how a run's text reaches the person who asked.

The agent streams into a ``ReplyRenderer`` it is given; it never imports the
notebook layer. ``reply.py`` holds the default one (an updating display in a
notebook, text in a terminal); ``panels.py`` and ``terminal.py`` draw
``print_response``'s Message / Response boxes (HTML in a notebook, rich in a terminal).
"""

from .base import ReplyRenderer
from .reply import ReplyView, footer_text, in_notebook

__all__ = ["ReplyRenderer", "ReplyView", "footer_text", "in_notebook"]
