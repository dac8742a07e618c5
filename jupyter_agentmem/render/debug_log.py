"""``debug_mode=True``: the package's debug log in the terminal, as phidata's.

phidata's debug mode logs the messages sent, the tokens and each memory and summary
operation, one line each with a padded level name (``DEBUG    ...``). Ours logs the
same things under the ``jupyter_agentmem`` logger; this installs one rich handler
for it (process-wide: ``runtime.shared``) and sets the level. Logs go to stderr, so a
script's printed output stays what it prints.
"""

from __future__ import annotations

import logging
import sys

from .. import runtime

LOGGER = "jupyter_agentmem"


def _handler() -> logging.Handler:
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(console=Console(file=sys.stderr), show_time=False, show_path=False,
                          rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


class _DebugLog:
    """The handler on the package logger (closed at exit like every shared object)."""

    def __init__(self) -> None:
        self.handler = _handler()
        logging.getLogger(LOGGER).addHandler(self.handler)

    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        pass

    def close(self) -> None:
        logging.getLogger(LOGGER).removeHandler(self.handler)


def enable_debug_log() -> None:
    """Log the package's debug lines to the terminal from now on."""
    runtime.shared("listeners", "debug-log", _DebugLog)
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.debug("Debug logs enabled")
