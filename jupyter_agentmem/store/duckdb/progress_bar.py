"""Our DuckDB connections without DuckDB's Jupyter progress bar, so without ipywidgets.

Inside a kernel, ``duckdb.connect`` imports ipywidgets for the progress bar it draws for
queries that run over 2 s (its C++ ``SetDefaultConfigArguments``; no option turns that
off). *Measured* (bench/bench_cold.py, issue 17 point 3): ~40 ms of CPU in a fresh
kernel's first ``%%agent`` cell, for a widget our short statements never show. When
ipywidgets is not imported yet, ``without_widgets`` makes it unimportable for the
connect alone (``None`` in ``sys.modules``: DuckDB then leaves the progress bar off for
that connection and says why in ``system_progress_bar_disable_reason``). DuckDB does not
remember the failure: the user's own ``duckdb.connect`` later imports ipywidgets and
draws its bar as usual, and the panel imports it as usual. The interpreter's import lock
is held meanwhile, so another thread importing ipywidgets then waits for it instead of
failing (tested: tests/test_cold_start.py).
"""

from __future__ import annotations

import _imp
import sys
from collections.abc import Iterator
from contextlib import contextmanager

WIDGETS = "ipywidgets"


@contextmanager
def without_widgets() -> Iterator[None]:
    """While this block connects, DuckDB finds no ipywidgets (unless it is imported)."""
    if WIDGETS in sys.modules:  # imported already: nothing to save
        yield
        return
    _imp.acquire_lock()
    try:
        if WIDGETS in sys.modules:  # imported meanwhile
            yield
            return
        sys.modules[WIDGETS] = None  # type: ignore[assignment]
        try:
            yield
        finally:
            if sys.modules.get(WIDGETS, WIDGETS) is None:
                del sys.modules[WIDGETS]
    finally:
        _imp.release_lock()
