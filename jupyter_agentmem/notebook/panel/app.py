"""``%agent panel``: see and correct what the agent stores, in editable grids.

Tabs: History (the session's messages, paged), Memories (the user's memories),
Summaries (the session's summary versions) and Sessions (pick one to load). Every
edit is validated, written through the store at once (a ``memory_events`` row,
actor ``user``) and reported in ``panel.status``; the panel refreshes itself when
a run or background memory work stores something (the change bus, ``changes.py``).

ipywidgets, ipydatagrid and pandas are imported here, never by ``import jupyter_agentmem``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ... import changes
from ...store import DEFAULT_USER, Store, StoreError, open_store
from ...store.location import default_db_path
from .grid import TableTab
from .tabs import HistoryTab, MemoriesTab, SessionsTab, SummariesTab

__all__ = ["AgentPanel", "panel"]

log = logging.getLogger(__name__)


CatchUp = Callable[[str, str], None]  # (session, user): its summary brought up to date


class AgentPanel(w.VBox):
    """The panel widget: a header with the status line, and the four tabs."""

    def __init__(self, store: Store, session_id: str | None = None, user_id: str | None = None,
                 page_size: int = 200, memory_wait: float = 30.0,
                 catch_up: CatchUp | None = None) -> None:
        self.user_id = user_id or DEFAULT_USER
        # Everything the panel reads or writes is this user's: the store checks it.
        self.store = store.as_user(self.user_id)
        # How a shown summary is brought up to its session's last run: the magics'
        # (with the notebook's model); else the work this process deferred.
        self._catch_up = catch_up
        self.memory_wait = memory_wait  # a refresh first waits this long for queued work
        self.session_id = session_id
        # One lock for the tabs' frames: edits come from the kernel thread, refreshes
        # may come from the memory worker's thread.
        self.lock = threading.RLock()
        self._header = w.HTML(layout=w.Layout(flex="0 1 auto", min_width="0"))
        # At least 12em beside the header, or the status line wraps under it.
        self._status = w.HTML(layout=w.Layout(margin="0 0 0 1em", flex="1 1 12em",
                                              min_width="0"))
        self._status.add_class("agentmem-status")  # browser tests find it by this
        self._status_text = ""
        self.history_tab = HistoryTab(self, page_size=page_size)
        self.memories_tab = MemoriesTab(self)
        self.summaries_tab = SummariesTab(self)
        self.sessions_tab = SessionsTab(self)
        self.tabs = w.Tab(children=[t.widget for t in self.all_tabs],
                          titles=[t.title for t in self.all_tabs])
        # In a narrow window the status line wraps under the header instead of
        # squeezing it (a long session id and a long status both stay readable).
        header = w.HBox([self._header, self._status],
                        layout=w.Layout(flex_flow="row wrap", align_items="baseline"))
        super().__init__([header, self.tabs])
        self.tabs.observe(self._on_tab, names="selected_index")
        self._loop = _running_loop()
        self._unsubscribe: Callable[[], None] | None = changes.subscribe(self._on_change)
        self.refresh()
        self.say("ready")

    # --- public surface -------------------------------------------------------
    @property
    def all_tabs(self) -> list[TableTab]:
        return [self.history_tab, self.memories_tab, self.summaries_tab, self.sessions_tab]

    @property
    def history(self) -> Any:
        """The History grid (an ipydatagrid ``DataGrid``)."""
        return self.history_tab.grid

    @property
    def memories(self) -> Any:
        return self.memories_tab.grid

    @property
    def summaries(self) -> Any:
        return self.summaries_tab.grid

    @property
    def sessions(self) -> Any:
        return self.sessions_tab.grid

    @property
    def status(self) -> str:
        """The status line: ``saved ...``, or why an edit was not stored."""
        return self._status_text

    def say(self, text: str) -> None:
        self._status_text = text
        refused = text.startswith("Not ")
        color = "#b00020" if refused else "#2e7d32"
        # A long path or id breaks anywhere rather than running off the panel.
        self._status.value = (f'<span style="color:{color};overflow-wrap:anywhere">'
                              f'{html.escape(text)}</span>')

    def refresh(self) -> None:
        """Reload every tab from the database, after the memory work queued for them."""
        from ...memory import wait_for_memory_work

        wait_for_memory_work(self.session_id, self.user_id, self.memory_wait)
        self._catch_up_summary()
        with self.lock:
            for tab in self.all_tabs:
                tab.reload()
            self._show_header()

    def _catch_up_summary(self) -> None:
        # Summaries are made lazily (memory/jobs.py): showing them is a read that brings
        # the session's summary up to its last run first.
        from ...memory import catch_up_summary

        if self.session_id and self._catch_up is not None:
            self._catch_up(self.session_id, self.user_id)
        elif self.session_id:
            catch_up_summary(self.store, self.session_id, self.memory_wait)

    def _on_tab(self, change: dict[str, Any]) -> None:
        if self.all_tabs[change["new"] or 0] is self.summaries_tab:
            self._catch_up_summary()
            self.guard(self.summaries_tab.reload)

    def load_session(self, session_id: str) -> None:
        """Show ``session_id`` in the tabs: the panel's user's sessions only, another
        user's is refused in the status line (and the panel stays where it was)."""
        with self.lock:
            try:
                self.store.usable_session(session_id)
            except StoreError as exc:
                self.say(f"Not loaded: {exc}")
                return
            self.session_id = session_id
            self.history_tab.follow_end = True
            self.refresh()
            self.tabs.selected_index = 0
            self.say(f"loaded session {session_id}")

    def guard(self, action: Callable[[], Any]) -> Any:
        """Run a button or grid action; a failure shows in the status line, never vanishes."""
        try:
            with self.lock:
                return action()
        except Exception as exc:  # noqa: BLE001 (shown to the user, and logged)
            log.exception("panel action failed")
            self.say(f"Not done: {type(exc).__name__}: {exc}")
            return None

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for tab in self.all_tabs:
            tab.grid.close()
        super().close()

    # --- refresh on changes ---------------------------------------------------
    def _on_change(self, change: changes.Change) -> None:
        if not self._same_db(change.db_path):
            return
        tabs: list[TableTab] = [self.sessions_tab]
        if self.session_id is None and change.kind == "run" and change.session_id:
            self.session_id = change.session_id  # an empty panel follows the first run
        if change.kind in ("run", "edit") and change.session_id == self.session_id:
            tabs.append(self.history_tab)
        if change.kind in ("memories", "edit") and change.user_id == self.user_id:
            tabs.append(self.memories_tab)
        if change.kind in ("summary", "edit") and change.session_id == self.session_id:
            tabs.append(self.summaries_tab)

        def reload() -> None:
            for tab in tabs:
                self.guard(tab.reload)

        # The memory worker notifies from its own thread: hand the refresh to the
        # kernel's event loop when there is one, so widget messages go out in order.
        if threading.current_thread() is not threading.main_thread() and self._loop_alive():
            self._loop.call_soon_threadsafe(reload)
        else:
            reload()

    def _loop_alive(self) -> bool:
        return self._loop is not None and self._loop.is_running() and not self._loop.is_closed()

    def _same_db(self, path: str | None) -> bool:
        mine = self.store.path
        if path is None or mine is None:
            return path == mine
        return os.path.realpath(path) == os.path.realpath(mine)

    def _show_header(self) -> None:
        session = html.escape(self.session_id or "(none)")
        self._header.value = (f'<span style="overflow-wrap:anywhere"><b>agentmem</b> · '
                              f"session <code>{session}</code> · user "
                              f"<code>{html.escape(self.user_id)}</code> ·</span>")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def panel(session_id: str | None = None, user_id: str | None = None,
          store: Store | type[Store] | str | None = None, page_size: int = 200,
          memory_wait: float = 30.0, catch_up: CatchUp | None = None) -> AgentPanel:
    """The editable panel of ``user_id`` (default ``"default"``) for ``session_id``
    (default: their newest session).

    ``store`` is a ``Store``, a store class, a DuckDB file path, or ``None`` for the
    default database (``AGENTMEM_DB`` or the Jupyter data dir). Another user's session
    is refused (``StoreError``); their memories are never shown.
    """
    if store is None or isinstance(store, (str, os.PathLike)):
        store = open_store(default_db_path(os.fspath(store) if store else None))
    elif isinstance(store, type):
        store = store(default_db_path())
    store = store.as_user(user_id)
    if session_id is not None:
        store.usable_session(session_id)  # another user's: StoreError
    else:
        sessions = store.list_sessions()
        session_id = sessions[0]["session_id"] if sessions else None
    return AgentPanel(store, session_id=session_id, user_id=user_id, page_size=page_size,
                      memory_wait=memory_wait, catch_up=catch_up)
