"""Our DuckDB connections without DuckDB's Jupyter progress bar, so without ipywidgets.

Inside a kernel, ``duckdb.connect`` imports ipywidgets for the progress bar it draws for
queries that run over 2 s (its C++ ``SetDefaultConfigArguments``; no option turns that
off). *Measured* (bench/bench_cold.py, issue 17 point 3): ~40 ms of CPU in a fresh
kernel's first ``%%agent`` cell, for a widget our short statements never show.

While ``without_widgets`` runs (our connect), ipywidgets cannot be imported *by this
thread*: a finder first on ``sys.meta_path`` raises ``ModuleNotFoundError`` for it, so
DuckDB leaves the progress bar off for that connection (and says why in
``system_progress_bar_disable_reason``). Other threads import it as usual meanwhile,
and DuckDB does not remember the failure: the user's own ``duckdb.connect`` later
imports ipywidgets and draws its bar, and the panel imports it as usual (tested:
tests/test_cold_start.py). Not ``None`` in ``sys.modules``: that would fail another
thread's import too, and guarding it with the interpreter's import lock blocked every
import in the process for as long as DuckDB took to open the file.

The finder is installed once and never removed (removing a finder while another
thread walks ``sys.meta_path`` can make that thread skip the next one); outside a
connect it returns at once.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ... import runtime

WIDGETS = "ipywidgets"


class WidgetRefusal:
    """Refuses ipywidgets to a thread inside ``without_widgets``; finds nothing else.
    A ``runtime.Resource`` with nothing to do (its state is one thread-local flag)."""

    def __init__(self) -> None:
        self._local = threading.local()

    @property
    def active(self) -> bool:
        return getattr(self._local, "active", False)

    @active.setter
    def active(self, value: bool) -> None:
        self._local.active = value

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == WIDGETS and self.active:
            raise ModuleNotFoundError(f"No module named {WIDGETS!r} (not while agentmem "
                                      "opens its DuckDB connection)", name=WIDGETS)
        return None

    def idle(self, timeout: float) -> bool:
        return True

    def after_fork_in_child(self) -> None:
        pass

    def close(self) -> None:
        pass  # stays installed (see the module's docstring); inert outside a connect


def _installed() -> WidgetRefusal:
    def install() -> WidgetRefusal:
        found = next((f for f in sys.meta_path if isinstance(f, WidgetRefusal)), None)
        if found is None:  # (after runtime.reset() in tests, the one installed is kept)
            found = WidgetRefusal()
            sys.meta_path.insert(0, found)
        return found

    return runtime.shared("engines", "duckdb widget refusal", install)


@contextmanager
def without_widgets() -> Iterator[None]:
    """While this block connects, DuckDB finds no ipywidgets (unless it is imported)."""
    if WIDGETS in sys.modules:  # imported already: nothing to save
        yield
        return
    refusal = _installed()
    refusal.active = True
    try:
        yield
    finally:
        refusal.active = False
