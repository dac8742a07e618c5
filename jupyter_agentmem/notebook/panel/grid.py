"""One editable table of the panel: a grid, a detail editor and a toolbar, and the edit rules.

The tab's own DataFrame (``frame``) is the truth; the grid only shows it. Every edit
is checked here, written through the store at once (actor ``user``), and a refused
edit is put back in the grid. How the grid and the browser talk (ipydatagrid 1.4;
see docs/architecture.md, "The panel"):

- The browser sends ``cell-changed`` ``{row, column_index, value}`` when the user commits
  a cell, and ALSO for every ``cell-changed`` the kernel sends it (its echo): both look
  the same, and the frontend drops any extra field, so no version or id can come back.
- ``row-changed`` from the kernel is shown and answered with nothing. So the kernel shows
  values only with ``row-changed`` (``push``), and ``set_cell_value`` & co. are edits of
  the tab (``PanelGrid``) instead of ipydatagrid's raw ``cell-changed``: every
  ``cell-changed`` from the browser is then a user's edit, however late it arrives.
- The only ``cell-changed`` the kernel sends is a barrier after each new ``data``
  (a generation): row 0 of a read-only column, with the value it already has. Its echo
  tells which generation that browser shows, so a user's edit (or click) is applied to
  the row it was made on (by row identity), even when a refresh moved the rows since.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from typing import Any, Protocol

import ipywidgets as w
import pandas as pd
from ipydatagrid import DataGrid, TextRenderer

from ...store import StaleEdit, Store, StoreError
from .export import export_frame_to

READ_ONLY_BACKGROUND = "#eeeeee"
ROW_PX = 20  # ipydatagrid's base_row_size (the header row is as high)
MAX_GRID_PX = 400  # the grid grows with its rows up to this, then scrolls
CHAR_PX = 7.5  # a header character in JupyterLab's grid font (measured on screenshots)
HEADER_EXTRA_PX = 34  # padding and the filter icon of a header cell
KEPT_GENERATIONS = 32  # row keys kept for browsers still showing an older ``data``


class Refused(ValueError):
    """An edit the panel will not store; the message says why."""


def to_frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows as a DataFrame of display values: text for timestamps, lists and missing values."""
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in frame.columns:
        values = frame[column]
        if values.empty or pd.api.types.is_integer_dtype(values):
            continue
        frame[column] = [_display(v) for v in values]
    return frame.reset_index(drop=True)


def _display(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value is None or pd.isna(value):  # None, NaN and NaT (a NULL timestamp)
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat(sep=" ", timespec="seconds")
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str, what: str) -> str:
    """``text``, or ``Refused`` when no backend can store it as it is: a NUL character
    (PostgreSQL refuses it) or a lone surrogate (not UTF-8: DuckDB refuses it)."""
    bad = _UNSTORABLE.search(text)
    if bad:
        name = "a NUL character" if bad.group() == "\x00" else (
            f"a lone surrogate ({bad.group()!r})")
        raise Refused(f"{what} cannot hold {name} (at character {bad.start() + 1})")
    return text


def parse_topics(value: Any) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]`` (topics are edited as comma-separated text)."""
    return [t.strip() for t in storable(str(value), "topics").split(",") if t.strip()]


def parse_text(value: Any, what: str) -> str:
    text = "" if value is None else str(value)
    if not text.strip():
        raise Refused(f"{what} cannot be empty")
    return storable(text, what)


def _same(shown: Any, value: Any) -> bool:
    try:
        return bool(shown == value)
    except (TypeError, ValueError):
        return False


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class PanelHost(Protocol):
    """What a tab needs of the panel it sits in."""

    store: Store
    session_id: str | None
    user_id: str
    lock: threading.RLock

    def say(self, text: str) -> None:
        """Show ``text`` in the status line."""

    def guard(self, action: Callable[[], Any]) -> Any:
        """Run a button or grid action; a failure shows in the status line."""

    def load_session(self, session_id: str, user_id: str | None = None) -> None: ...


def text_or_topics(column: str, value: Any, text_column: str,
                   what: str) -> tuple[str | None, list[str] | None, str]:
    """An edit of ``text_column`` or ``topics``: (text, topics, value to show), ``None``
    for the one not edited: only the edited cell is written (the frame's other cell may be
    stale: writing it back reverted changes made elsewhere meanwhile)."""
    if column == text_column:
        text = parse_text(value, what)
        return text, None, text
    topics = parse_topics(value)
    return None, topics, ", ".join(topics)


def _fits(values: pd.Series, value: Any) -> bool:
    """Whether ``value`` can be stored in a column of ``values``' dtype (ints stay ints)."""
    if pd.api.types.is_integer_dtype(values):
        return isinstance(value, int) and not isinstance(value, bool)
    return True


def header_width(column: str) -> int:
    """Pixels a grid column needs to show its header whole (with the filter icon)."""
    return int(len(column) * CHAR_PX + HEADER_EXTRA_PX)


def grid_height(rows: int) -> str:
    """The grid's CSS height: its header and rows (at least 2) and a scroll bar, up to
    ``MAX_GRID_PX`` (a fixed 300 px showed 4 rows in a mostly empty box)."""
    # + 30: the horizontal scroll bar and the borders (+18 cut the last row: screenshot).
    return f"{min(MAX_GRID_PX, ROW_PX * (max(rows, 2) + 1) + 30)}px"


class PanelGrid(DataGrid):
    """ipydatagrid's DataGrid whose Python-side writes are edits of the panel's tab.

    ipydatagrid's own ``set_cell_value`` (and ``set_cell_value_by_index``) writes its copy,
    calls ``on_cell_change`` and then sends the raw value to the browser as ``cell-changed``,
    which the browser answers with a ``cell-changed`` indistinguishable from a user's edit
    (and a refused value stays on screen until that answer comes back). Here the value goes
    to ``edit_hook`` (the tab checks, stores and shows the result with ``row-changed``,
    which the browser does not answer). ``sender`` is the Jupyter session of the browser
    message being handled (``None`` outside one), for the callbacks.
    """

    edit_hook: Callable[[int, str, Any], bool] | None = None
    state_request_hook: Callable[[str | None], None] | None = None
    sender: str | None = None

    def set_cell_value(self, column_name: Any, primary_key_value: Any, new_value: Any) -> bool:
        if self.edit_hook is None:
            return super().set_cell_value(column_name, primary_key_value, new_value)
        rows = self._get_row_index_of_primary_key(primary_key_value)
        if not rows or column_name not in self._data["data"]:
            return False
        return all([self.edit_hook(int(r), column_name, new_value) for r in rows])

    def set_cell_value_by_index(self, column_name: Any, row_index: int, new_value: Any) -> bool:
        if self.edit_hook is None:
            return super().set_cell_value_by_index(column_name, row_index, new_value)
        if column_name not in self._data["data"] or not 0 <= row_index < len(self._data["data"]):
            return False
        return self.edit_hook(int(row_index), column_name, new_value)

    def set_row_value(self, primary_key_value: Any, new_value: Any) -> bool:
        if self.edit_hook is None:
            return super().set_row_value(primary_key_value, new_value)
        rows = self._get_row_index_of_primary_key(primary_key_value)
        if not rows:
            return False
        names = self._get_col_headers(self._data)
        return all([self.edit_hook(int(r), name, value)
                    for r in rows for name, value in zip(names, new_value)])

    def _handle_msg(self, msg: dict[str, Any]) -> None:
        self.sender = (msg.get("header") or {}).get("session")
        try:
            data = (msg.get("content") or {}).get("data") or {}
            if data.get("method") == "request_state" and self.state_request_hook is not None:
                # A browser (re)connecting: it gets the current data with this state.
                self.state_request_hook(self.sender)
            super()._handle_msg(msg)
        finally:
            self.sender = None


class TableTab:
    """Base of the History, Memories, Summaries and Sessions tabs."""

    title = ""
    name = ""  # used in export file names
    columns: tuple[str, ...] = ()
    editable: tuple[str, ...] = ()
    # The stored columns an edit compares with what the tab read (compare-and-set):
    # the store refuses the edit when another writer changed them since.
    recorded: tuple[str, ...] = ()
    text_column: str | None = None  # the long text the detail editor shows and saves
    identity: tuple[str, ...] = ()  # columns naming a row across refreshes (default: the first)
    widths: dict[str, int] = {}
    can_add = False
    can_delete = False  # a Delete button and a "show deleted" box (soft deletes)
    noun = "row"  # what one row is, in status messages
    plural = "rows"

    def __init__(self, panel: PanelHost) -> None:
        self.panel = panel
        self.frame = to_frame([], self.columns)
        self.undo_stack: list[tuple[str, str]] = []  # (event_id, what it changed)
        self.as_read: dict[Any, dict[str, Any]] = {}  # row key -> ``recorded`` as stored
        self.selected: int | None = None
        # Generations: each ``grid.data`` the kernel sets. The browser may still show an
        # older one when its edit arrives; row keys map its row to today's row.
        self._generation = 0
        self._row_keys: dict[int, list[tuple[Any, ...]]] = {0: []}
        self._barriers: dict[int, Any] = {}  # generation -> value of its barrier cell
        self._browser_generation: dict[str | None, int] = {}  # session -> what it shows
        self._barrier_column = next((c for c in self.columns if c not in self.editable), None)
        read_only = {c: TextRenderer(background_color=READ_ONLY_BACKGROUND)
                     for c in self.columns if c not in self.editable}
        self.grid = PanelGrid(
            self._view(self.frame), editable=bool(self.editable), selection_mode="cell",
            base_column_size=110, base_row_size=ROW_PX, base_column_header_size=ROW_PX,
            column_widths=self.column_widths(), renderers=read_only,
            layout=w.Layout(height=grid_height(0), width="100%"))
        self.grid.edit_hook = self._edit_from_kernel
        self.grid.state_request_hook = self._browser_connected
        self.grid.on_msg(self._on_msg)
        self.grid.on_cell_click(self._on_click)
        self.widget = w.VBox([self._toolbar(), *self._extra_rows(), self.grid,
                              self._export_row(), self._detail()])

    # --- widgets ---------------------------------------------------------------
    def _button(self, label: str, tip: str, action: Any, icon: str = "") -> w.Button:
        button = w.Button(description=label, tooltip=tip, icon=icon,  # never squeezed
                          layout=w.Layout(width="auto", flex="0 0 auto"))
        button.on_click(lambda _b: self.panel.guard(action))
        return button

    def column_widths(self) -> dict[str, int]:
        """Each column's width: the tab's choice, but never narrower than its header."""
        return {c: max(self.widths.get(c, 110), header_width(c)) for c in self.columns}

    def _toolbar(self) -> w.HBox:
        # One line: the actions on the rows shown. Adding and exporting have rows of
        # their own (the old single row wrapped to three lines at 1000 px).
        self.filter_box = w.Text(placeholder="filter: text in any column", continuous_update=False,
                                 layout=w.Layout(width="auto", flex="0 1 220px",
                                                 min_width="90px"))
        self.filter_box.observe(lambda _c: self.panel.guard(self.reload), names="value")
        self.count_label = w.Label(layout=w.Layout(flex="0 0 auto"))
        items: list[w.Widget] = [
            self._button("Refresh", "Reload from the database", self.reload, "refresh"),
            self.filter_box]
        if self.can_delete:
            items.append(self._button("Delete", "Delete the selected row (soft, undoable)",
                                      self.delete_selected, "trash"))
        if self.editable or self.can_delete:
            items.append(self._button("Undo", "Undo this tab's last change", self.undo,
                                      "undo"))
        items.append(self.count_label)
        return w.HBox(items, layout=w.Layout(flex_flow="row nowrap", align_items="center"))

    def _export_row(self) -> w.HBox:
        self.export_path = w.Text(value=f"agentmem_{self.name}", layout=w.Layout(width="200px"),
                                  tooltip="file name; the extension is added")
        return w.HBox([
            w.Label("Export these rows to file"), self.export_path,
            self._button("CSV", "Export the rows to CSV", lambda: self.export(fmt="csv"),
                         "download"),
            self._button("Parquet", "Export the rows to Parquet",
                         lambda: self.export(fmt="parquet"), "download")],
            layout=w.Layout(flex_flow="row nowrap", align_items="center"))

    def _extra_rows(self) -> list[w.Widget]:
        return []

    def _show_deleted_box(self) -> w.Checkbox:
        self.show_deleted = w.Checkbox(value=False, description="show deleted",
                                       indent=False, layout=w.Layout(width="auto"))
        self.show_deleted.observe(lambda _c: self.panel.guard(self.reload), names="value")
        return self.show_deleted

    @property
    def with_deleted(self) -> bool:
        return bool(self.can_delete and self.show_deleted.value)

    def _detail(self) -> w.VBox:
        hint = "its full text here" if self.text_column else "what it is here"
        self.detail_label = w.HTML(f"<i>Click a row to see {hint}.</i>")
        # width auto (stretched by the VBox): 100% plus the widget's margin overflowed
        # the tab's border.
        self.detail = w.Textarea(layout=w.Layout(width="auto", height="110px"),
                                 disabled=self.text_column is None)
        items: list[w.Widget] = [self.detail_label]
        if self.text_column is not None:  # Sessions has no text to show: no empty editor
            items.append(self.detail)
        if self.text_column in self.editable:
            items.append(self._button("Save text", "Store the text above for the selected row",
                                      self.save_detail, "save"))
        return w.VBox(items, layout=w.Layout(align_items="stretch"))

    def _view(self, frame: pd.DataFrame) -> pd.DataFrame:
        view = frame[list(self.columns)].copy()
        view.index = pd.Index(self.row_labels(len(frame)), name="#")
        return view

    def row_labels(self, n: int) -> list[int]:
        return list(range(n))

    # --- loading ---------------------------------------------------------------
    def fetch(self) -> pd.DataFrame:
        """The rows to show (tab-specific)."""
        raise NotImplementedError

    def remember(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the stored values of ``rows``' ``recorded`` columns, as read (``fetch``):
        an edit of the row expects them still there."""
        columns = self.identity or self.columns[:1]
        self.as_read = {tuple(_display(r[c]) for c in columns): {c: r[c] for c in self.recorded}
                        for r in rows}
        return rows

    def expected(self, row: int) -> dict[str, Any] | None:
        """The row's ``recorded`` values as the tab read them (``None``: nothing read)."""
        return self.as_read.get(self.key_of(row))

    def stored(self, row: int, values: dict[str, Any]) -> None:
        """The row now holds ``values`` in the store (our own edit): expect those next."""
        known = self.as_read.get(self.key_of(row))
        if known is not None:
            known.update((c, v) for c, v in values.items() if c in self.recorded)

    def reload(self) -> None:
        with self.panel.lock:
            key = self.key_of(self.selected) if self.selected is not None else None
            self.set_frame(self.filtered(self.fetch()))
            self.count_label.value = self.count_text()
            rows = self.rows_with_key(key) if key is not None else []
            self.select(rows[0] if rows else None)

    def count_text(self) -> str:
        n = len(self.frame)
        return f"{n} {self.noun if n == 1 else self.plural}" + (
            " matching" if self.needle else "")

    def set_frame(self, frame: pd.DataFrame) -> None:
        self.frame = frame.reset_index(drop=True)
        self.grid.data = self._view(self.frame)
        self.grid.layout.height = grid_height(len(self.frame))
        self._new_generation()

    def _new_generation(self) -> None:
        """Record the rows just sent; send the barrier whose echo says a browser shows them."""
        self._generation += 1
        generation = self._generation
        keys = self._keys()
        previous = self._row_keys.get(generation - 1)
        self._row_keys[generation] = previous if previous == keys else keys
        for old in [g for g in self._row_keys if g <= generation - KEPT_GENERATIONS]:
            del self._row_keys[old]
            self._barriers.pop(old, None)
        if keys and self._barrier_column is not None:
            value = _jsonable(self.frame.at[0, self._barrier_column])
            self._barriers[generation] = value
            self.grid.send({"event_type": "cell-changed", "row": 0,
                            "column": self._barrier_column,
                            "column_index": self.grid._column_name_to_index(self._barrier_column),
                            "value": value})

    def _browser_connected(self, session: str | None) -> None:
        with self.panel.lock:
            self._browser_generation[session] = self._generation

    def _acknowledged(self, session: str | None, row: Any, index: Any, value: Any) -> bool:
        """Whether this cell-changed is a barrier's echo (then: note what ``session`` shows).

        Each browser answers the barriers in the order they were sent: its echo belongs to
        the oldest generation after the one it showed whose barrier had this value. Any
        other barrier value there (a duplicate, or a user typing an id into the read-only
        cell) is no edit either: ignored, and row 0 is shown again.
        """
        if (row != 0 or self._barrier_column is None
                or index != self.grid._column_name_to_index(self._barrier_column)):
            return False
        shown = self._browser_generation.get(session, 0)
        later = [g for g in sorted(self._barriers)
                 if g > shown and _same(self._barriers[g], value)]
        if later:
            self._browser_generation[session] = later[0]
            return True
        if not any(_same(v, value) for v in self._barriers.values()):
            return False
        if len(self.frame):
            self.push(0)
        return True

    def _current_row(self, session: str | None, row: Any) -> int | None:
        """Today's row of the ``row`` a browser showed (``None``: no longer shown)."""
        shown = self._browser_generation.get(session, 0)
        keys = self._row_keys.get(shown)
        if keys is None or not isinstance(row, int) or not 0 <= row < len(keys):
            return None
        if shown == self._generation:
            return row
        rows = self.rows_with_key(keys[row])
        return rows[0] if rows else None

    def _repair_grid_copy(self, row: Any, column: Any) -> None:
        """ipydatagrid wrote the browser's value into its kernel copy at the browser's row
        (maybe of an older generation, maybe past the end): make the copy the frame again."""
        data = self.grid._data.get("data")
        if data is None or column not in self.frame.columns:
            return
        if (len(data) != len(self.frame) or column not in data
                or data[column].dtype != self.frame[column].dtype):
            self.grid._data["data"] = self.grid.generate_data_object(
                self._view(self.frame), "ipydguuid", "#")["data"]
        elif isinstance(row, int) and 0 <= row < len(self.frame):
            try:
                data.loc[row, column] = self.frame.at[row, column]
            except (TypeError, ValueError):
                pass

    @property
    def needle(self) -> str:
        return self.filter_box.value.strip().lower()

    def filtered(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows where any column contains the filter text (case-insensitive)."""
        if not self.needle or frame.empty:
            return frame
        hit = pd.Series(False, index=frame.index)
        for column in self.columns:
            hit |= frame[column].astype(str).str.lower().str.contains(self.needle, regex=False)
        return frame[hit]

    def _keys(self) -> list[tuple[Any, ...]]:
        columns = self.identity or self.columns[:1]
        return list(zip(*(self.frame[c].tolist() for c in columns))) if len(self.frame) else []

    def key_of(self, row: int) -> Any:
        columns = self.identity or self.columns[:1]
        return (tuple(self.frame.iloc[row][c] for c in columns)
                if 0 <= row < len(self.frame) else None)

    def rows_with_key(self, key: Any) -> list[int]:
        return [i for i, k in enumerate(self._keys()) if k == key]

    # --- selection and the detail editor ----------------------------------------
    def _on_click(self, cell: dict[str, Any]) -> None:
        if cell.get("region") == "body" and cell.get("primary_key_row") is not None:
            session = self.grid.sender
            self.panel.guard(lambda: self.select(
                self._current_row(session, int(cell["primary_key_row"]))))

    def select(self, row: int | None) -> None:
        """Show ``row``'s full text in the detail editor (``None``: nothing selected)."""
        if row is None or not 0 <= row < len(self.frame):
            self.selected = None
            self.detail.value = ""
            hint = "its full text here" if self.text_column else "what it is here"
            self.detail_label.value = f"<i>Click a row to see {hint}.</i>"
            return
        self.selected = row
        if self.text_column:
            self.detail.value = str(self.frame.at[row, self.text_column])
        self.detail_label.value = html.escape(self.describe(row))

    def describe(self, row: int) -> str:
        """The row in words (plain text), for the status line and the detail editor."""
        return f"row {self.row_labels(len(self.frame))[row]}"

    def save_detail(self) -> None:
        if self.selected is None:
            self.panel.say("Select a row first.")
            return
        self.edit(self.selected, self.text_column, self.detail.value)

    # --- edits ----------------------------------------------------------------
    def _on_msg(self, _grid: Any, content: dict[str, Any], _buffers: Any) -> None:
        # Runs after ipydatagrid's own handler, which wrote the value into its kernel copy
        # (or only logged, for a value that does not fit the column's dtype).
        if not isinstance(content, dict) or content.get("event_type") != "cell-changed":
            return
        session = self.grid.sender
        self.panel.guard(lambda: self._from_browser(session, content))

    def _from_browser(self, session: str | None, content: dict[str, Any]) -> None:
        row, index, value = content.get("row"), content.get("column_index"), content.get("value")
        column = (self.grid._column_index_to_name(self.grid._data, index)
                  if isinstance(index, int) else None)
        with self.panel.lock:
            try:
                if self._acknowledged(session, row, index, value):
                    return
                target = self._current_row(session, row)
                if target is None or column not in self.frame.columns:
                    self.panel.say(f"Not saved: that {self.noun} is not shown any more; "
                                   "refresh.")
                elif not _fits(self.frame[column], value):
                    self._refuse(target, column, f"{value!r} does not fit column {column!r}")
                else:
                    self.edit(target, column, value)
            finally:
                self._repair_grid_copy(row, column)

    def _edit_from_kernel(self, row: int, column: str, value: Any) -> bool:
        return bool(self.panel.guard(lambda: self.edit(row, column, value)))

    def edit(self, row: int, column: str, value: Any) -> bool:
        """Validate and store one cell's new value; ``False`` (old value shown) if refused."""
        with self.panel.lock:
            if not 0 <= row < len(self.frame) or column not in self.frame.columns:
                self.panel.say(f"Not saved: row {row} / column {column!r} is not shown "
                               "any more; refresh.")
                return False
            if _same(self.frame.at[row, column], value):
                return True  # nothing to store
            if column not in self.editable:
                return self._refuse(row, column, f"{column} is read-only")
            try:
                shown, event = self.write(row, column, value)
            except StaleEdit as exc:
                # Changed elsewhere since we read it: show the stored row, store nothing.
                self.reload()
                self.panel.say(f"Not saved: {exc}. The grid shows the stored values now; "
                               "edit again if you still want to.")
                return False
            except (Refused, StoreError, ValueError) as exc:
                return self._refuse(row, column, str(exc))
            self.frame.at[row, column] = shown
            self.push(row)
            if event is not None:
                self.undo_stack.append(event)
            if self.selected == row:
                self.select(row)
            self.panel.say(f"saved {self.describe(row)}: {column}")
            return True

    def write(self, row: int, column: str, value: Any) -> tuple[Any, tuple[str, str] | None]:
        """Store the edit (tab-specific): returns the value to show and (event_id, what)."""
        raise Refused(f"{column} cannot be edited here")

    def _refuse(self, row: int, column: str | None, why: str) -> bool:
        if 0 <= row < len(self.frame):
            self.push(row)
        self.panel.say(f"Not saved: {why}")
        return False

    def push(self, row: int) -> None:
        """Show the frame's ``row`` in the grid: its kernel copy, and the browser with one
        ``row-changed`` (applied in order after any earlier ``data``, and never answered)."""
        values = [_jsonable(self.frame.at[row, c]) for c in self.columns]
        data = self.grid._data["data"]
        for column, value in zip(self.columns, values):
            try:
                data.loc[row, column] = value
            except (TypeError, ValueError):
                pass
        self.grid.send({"event_type": "row-changed", "row": int(row), "value": values})

    def last_event(self, target_id: str, what: str) -> tuple[str, str]:
        """The newest event of ``target_id`` (the one the store just wrote) for undo."""
        found = self.panel.store.events(target_id=target_id)
        if not found:
            raise StoreError(f"no event recorded for {target_id}")
        return found[-1]["event_id"], what

    def undo(self) -> None:
        with self.panel.lock:
            if not self.undo_stack:
                self.panel.say(f"Nothing to undo in {self.title}.")
                return
            event_id, what = self.undo_stack.pop()
            try:
                self.panel.store.undo_event(event_id, actor="user")
            except StoreError as exc:
                self.panel.say(f"Not undone: {exc}")
                return
            self.reload()
            self.panel.say(f"undone: {what}")

    def add_from_box(self) -> None:
        raise NotImplementedError

    def delete(self, row: int) -> bool:
        """Soft-delete the row's item (Undo brings it back); ``False`` if refused."""
        with self.panel.lock:
            if not 0 <= row < len(self.frame):
                self.panel.say(f"Select a {self.noun} to delete.")
                return False
            try:
                target_id, what = self.delete_row(row)
            except StoreError as exc:
                self.panel.say(f"Not deleted: {exc}")
                return False
            self.undo_stack.append(self.last_event(target_id, f"delete of {what}"))
            self.reload()
            self.panel.say(f"deleted {what} (Undo brings it back)")
            return True

    def delete_row(self, row: int) -> tuple[str, str]:
        """Delete through the store (tab-specific): returns (event target id, what)."""
        raise NotImplementedError

    def delete_selected(self) -> None:
        self.delete(-1 if self.selected is None else self.selected)

    # --- export ---------------------------------------------------------------
    def export_frame(self) -> pd.DataFrame:
        return self.frame[list(self.columns)]

    def export(self, path: str | None = None, fmt: str = "csv") -> str:
        """Write the tab's rows (after the filter) to CSV or Parquet; returns the path."""
        base = path or self.export_path.value.strip() or f"agentmem_{self.name}"
        frame = self.export_frame()
        target = export_frame_to(frame, base, fmt)
        self.panel.say(f"exported {len(frame)} rows to {target}")
        return target
