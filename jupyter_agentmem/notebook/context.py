"""Notebook variables as context: ``{name}`` in a ``%%agent`` cell becomes a bounded rendering.

One linear scan over the cell text (never ``str.format`` on user text). A reference is
``{name}`` (a variable of the notebook), ``{In[3]}``, ``{Out[3]}``, ``{_}`` or ``{Err}``
(the last error's traceback). Only references that resolve are replaced: any other
brace (code, JSON, LaTeX, f-string examples) is left exactly as it is, and so is a
reference glued to what precedes it (``x_{i}``, ``\\frac{a}{b}``, ``${name}``, ``f{x}``),
which is LaTeX or a template, not a request for context. ``{{name}}`` is sent as
``{name}`` (the escape); any other ``{{`` is left as it is.

Each rendering is at most ``limit`` characters and is made within ``timeout`` seconds
(a ``__repr__`` that hangs is cut off). A variable whose name looks like a secret, or
whose value or rendering holds something that looks like a credential
(``credentials.py``), is refused with a ``UsageError`` before anything is sent.
"""

from __future__ import annotations

import os
import re
import reprlib
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import IPython
from IPython.core.error import UsageError

from .credentials import Credential, find_credential, text_credential

_T = TypeVar("_T")

# An identifier is capped at 100 characters so that each match is bounded: the whole
# scan stays linear in the cell's length.
_REFERENCE = re.compile(r"(?:(In|Out)\[(-?\d{1,9})\]|([A-Za-z_][A-Za-z0-9_]{0,99}))\}")
_GLUED = frozenset("\\^_$}") | frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789")
_SECRET_NAME = re.compile(r"key|token|secret|passw|credential", re.IGNORECASE)
DEFAULT_TIMEOUT = 5.0  # seconds: AgentMagics.context_timeout

ERR = "Err"
_IPYTHON_DIR = os.path.dirname(IPython.__file__) + os.sep
TABLE_ROWS = 5
TABLE_COLUMNS = 20
CELL_CHARS = 40


MAX_NOTES = 5  # a cell of code full of {x} braces gets a short footer, not a list


def interpolate(text: str, namespace: Mapping[str, Any], limit: int,
                notes: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> str:
    """``text`` with each resolvable reference replaced by its rendering (<= ``limit``
    chars, made within ``timeout`` seconds each).

    ``notes`` (when given) receives a line for each reference that names nothing and was
    sent as written (``{undefined_df}: no such variable, sent as written``): a typo in a
    variable name would otherwise reach the model unnoticed.
    """
    unresolved: dict[str, str] = {}
    out: list[str] = []
    start = 0  # text[start:i] is copied as is
    i = text.find("{")
    while i != -1:
        escaped = text.startswith("{{", i)
        at = i + 2 if escaped else i + 1
        match = _REFERENCE.match(text, at)
        glued = i > 0 and text[i - 1] in _GLUED
        if match is None or glued:
            i = text.find("{", at)
            continue
        end = match.end()
        if escaped:
            if text.startswith("}", end):  # {{name}} -> {name}, never looked up
                out.append(text[start:i])
                out.append(text[i + 1:end])
                start = end + 1
                i = text.find("{", start)
            else:
                i = text.find("{", at)
            continue
        rendered = resolve(match, namespace, limit, timeout)
        if rendered is not None:
            out.append(text[start:i])
            out.append(rendered)
            start = end
        elif len(unresolved) <= MAX_NOTES:
            unresolved.setdefault(text[i:end], _why_unresolved(match))
        i = text.find("{", end)
    out.append(text[start:])
    if notes is not None:
        notes += [f"{ref}: {why}, sent as written"
                  for ref, why in list(unresolved.items())[:MAX_NOTES]]
        if len(unresolved) > MAX_NOTES:
            notes.append("more {names} that name nothing, sent as written")
    return "".join(out)


def _why_unresolved(match: re.Match[str]) -> str:
    history, _, name = match.groups()
    if history == "In":
        return "no such cell"
    if history == "Out":
        return "no such output"
    return "no error yet" if name == ERR else "no such variable"


def resolve(match: re.Match[str], namespace: Mapping[str, Any], limit: int,
            timeout: float = DEFAULT_TIMEOUT) -> str | None:
    """The rendering of one reference, or None when it names nothing (left as is)."""
    history, index, name = match.groups()
    if history is not None:
        found, value = _history_item(namespace, history, int(index))
        if not found:
            return None
        label = f"{history}[{index}]"
    elif name in namespace:
        _refuse_secret_name(name)
        value, label = namespace[name], name
    elif name == ERR:
        text = last_error()
        if text is None:
            return None
        return _checked(ERR, cut(text, limit, keep_end=True), _scan(text))
    else:
        return None
    if isinstance(value, str):  # no user code runs: nothing can hang
        return _checked(label, render(value, limit), _scan(value))
    rendering, found = _within(timeout, label, lambda: (render(value, limit), _scan(value)))
    return _checked(label, rendering, found)


def _scan(value: Any) -> Credential | None:
    try:
        return find_credential(value)
    except Exception:  # noqa: BLE001 (a user's container that cannot be read: its
        return None    # rendering, what is sent, is still scanned)


def _within(seconds: float, label: str, work: Callable[[], _T]) -> _T:
    """``work()`` (which runs the user's ``__repr__``) within ``seconds``.

    It runs in a daemon thread the caller stops waiting for. Python cannot stop a
    thread: a ``__repr__`` that never returns keeps its thread (and the value) until
    the kernel exits, one per cell that referenced it; one that returns late ends it and
    its result is dropped. A ``__repr__`` stuck in C code that never releases the GIL
    would stall the kernel itself: nothing in-process can bound that.
    """
    box: list[tuple[bool, Any]] = []
    done = threading.Event()

    def run() -> None:
        try:
            box.append((True, work()))
        except BaseException as exc:  # noqa: BLE001 (raised in the caller's thread)
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="agentmem-context", daemon=True).start()
    if not done.wait(seconds):
        raise UsageError(
            f"{{{label}}} was not sent: showing it took longer than {seconds:g} s (its "
            "repr may hang or be very slow). Nothing was sent. Reference a smaller or "
            "simpler value, raise %config AgentMagics.context_timeout, or use "
            "context=off for this cell.")
    ok, value = box[0]
    if not ok:
        raise value
    return value


def _history_item(namespace: Mapping[str, Any], name: str, index: int) -> tuple[bool, Any]:
    items = namespace.get(name)
    try:
        if name == "In" and isinstance(items, list) and -len(items) <= index < len(items):
            return True, items[index]
        if name == "Out" and isinstance(items, dict) and index in items:
            return True, items[index]
    except Exception:  # noqa: BLE001 (a user may have rebound In/Out to anything)
        pass
    return False, None


def last_error() -> str | None:
    """The last error's traceback as plain text (what IPython keeps in ``sys.last_*``).

    IPython's ``showtraceback`` stores the exception it shows in ``sys.last_type``,
    ``sys.last_value`` and ``sys.last_traceback`` (and ``sys.last_exc`` on 3.12+), in a
    terminal and in ipykernel alike; ``traceback`` formats it without colour codes.
    """
    value = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if not isinstance(value, BaseException):
        return None
    tb = value.__traceback__ or getattr(sys, "last_traceback", None)
    # Leave out IPython's own frames above the cell's code, as IPython's display does.
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_IPYTHON_DIR):
        tb = tb.tb_next
    lines = traceback.format_exception(type(value), value, tb)
    return "".join(lines).rstrip("\n")


def _refuse_secret_name(name: str) -> None:
    if _SECRET_NAME.search(name):
        raise UsageError(
            f"{{{name}}} was not sent: the name {name!r} looks like a secret (key, token, "
            "secret, password). Nothing was sent. Rename the variable if it is not one, or "
            "write {{" + name + "}} to send the braces as text, or use context=off.")


def _checked(label: str, text: str, in_value: Credential | None) -> str:
    """``text``, the rendering of ``{label}``, unless it or the value rendered holds
    something that looks like a credential (the value is walked: a rendering cuts)."""
    in_text = text_credential(text) if in_value is None else None
    if in_value is not None or in_text is not None:
        what = (in_value.describe() if in_value is not None
                else f"it holds something that looks like {in_text[0]} ({in_text[1]} "
                     "characters, not shown)")
        raise UsageError(
            f"{{{label}}} was not sent: {what}. Nothing was sent. Remove it from what "
            "you reference, or use context=off for this cell.")
    return text


# --- renderings ------------------------------------------------------------------
def cut(text: str, limit: int, keep_end: bool = False) -> str:
    """``text`` in at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"\n[... cut: {len(text):,} characters, {limit:,} shown]"
    room = max(0, limit - len(note))
    return (text[len(text) - room:] + note) if keep_end else (text[:room] + note)


def _is_instance(value: Any, module: str, names: tuple[str, ...]) -> bool:
    # No import: if the module was never imported, the value cannot be one of its types.
    mod = sys.modules.get(module)
    return mod is not None and isinstance(value, tuple(getattr(mod, n) for n in names))


def _cell(value: Any) -> str:
    text = str(value).replace("\n", " ").replace("|", "\\|")
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 3] + "..."


def render_frame(frame: Any, limit: int) -> str:
    """Shape, dtypes and the first rows as a Markdown table (reads only those rows)."""
    rows, cols = frame.shape
    shown = frame.iloc[:TABLE_ROWS, :TABLE_COLUMNS]
    names = [_cell(c) for c in shown.columns]
    lines = [f"DataFrame: {rows:,} rows x {cols:,} columns",
             "dtypes: " + ", ".join(f"{_cell(c)}: {t}" for c, t in
                                    list(frame.dtypes.items())[:TABLE_COLUMNS * 2]),
             "", "| " + " | ".join([""] + names) + " |",
             "|" + "---|" * (len(names) + 1)]
    for index, row in zip(shown.index, shown.itertuples(index=False, name=None)):
        lines.append("| " + " | ".join([_cell(index)] + [_cell(v) for v in row]) + " |")
    if rows > TABLE_ROWS or cols > TABLE_COLUMNS:
        lines.append(f"(first {min(rows, TABLE_ROWS)} rows, "
                     f"{min(cols, TABLE_COLUMNS)} columns shown)")
    return "\n".join(lines)


def render_series(series: Any, limit: int) -> str:
    head = series.iloc[:TABLE_ROWS * 4]
    return (f"Series {series.name!r}: {len(series):,} values, dtype {series.dtype}\n"
            + head.to_string())


def render_array(array: Any, limit: int) -> str:
    import numpy as np

    # array2string summarises large arrays itself (threshold): bounded work.
    body = np.array2string(array, threshold=200, edgeitems=3, max_line_width=100)
    return f"ndarray shape {array.shape}, dtype {array.dtype}\n{body}"


def render_text(value: str, limit: int) -> str:
    return value


def render_container(value: Any, limit: int) -> str:
    # reprlib stops after a few items per level: a 10-million-item list costs nothing.
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxtuple, short.maxset = 4, 50, 50, 50
    short.maxdict, short.maxstring, short.maxother = 50, min(limit, 2000), 200
    return short.repr(value)


def render_other(value: Any, limit: int) -> str:
    markdown = getattr(value, "_repr_markdown_", None)
    if callable(markdown):
        try:
            text = markdown()
        except Exception:  # noqa: BLE001 (a user's object: fall back to its repr)
            text = None
        if isinstance(text, str):
            return text
    return repr(value)


Renderer = Callable[[Any, int], str]

# Which rendering a value gets: the first row whose test holds.
RENDERINGS: tuple[tuple[Callable[[Any], bool], Renderer], ...] = (
    (lambda v: _is_instance(v, "pandas", ("DataFrame",)), render_frame),
    (lambda v: _is_instance(v, "pandas", ("Series",)), render_series),
    (lambda v: _is_instance(v, "numpy", ("ndarray",)), render_array),
    (lambda v: isinstance(v, str), render_text),
    (lambda v: isinstance(v, (dict, list, tuple, set, frozenset)), render_container),
    (lambda v: True, render_other),
)


def render(value: Any, limit: int) -> str:
    """A compact rendering of ``value`` in at most ``limit`` characters."""
    for test, renderer in RENDERINGS:
        if test(value):
            try:
                text = renderer(value, limit)
            except Exception as exc:  # noqa: BLE001 (a broken repr must not break the cell)
                text = f"<{type(value).__name__}: could not be shown ({type(exc).__name__})>"
            return cut(text, limit)
    raise AssertionError("the last rendering takes any value")
