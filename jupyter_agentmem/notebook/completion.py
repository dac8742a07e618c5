"""Tab completion after ``%%agent `` and ``%agent ``: subcommands, option names, values.

Everything offered comes from the tables the parser uses (``COMMANDS``, the cell
options): a new row completes with no change here. Values: session ids (the user's
own sessions), user ids, and the choices an option's shape lists (``on|off``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from IPython.core.completer import (
    CompletionContext,
    SimpleCompletion,
    SimpleMatcherResult,
    context_matcher,
)

from . import options as opt
from .commands import COMMANDS

IDENTIFIER = "jupyter_agentmem"
CELL, LINE = "%%agent", "%agent"
MAX_VALUES = 200  # a completion list, not a listing: the newest sessions first


class Source(Protocol):
    """What completion needs of the magics: the cell options and where values come from."""

    user: str

    def cell_option_table(self) -> dict[str, opt.Option]: ...

    def known_sessions(self, user: str) -> list[dict[str, Any]]: ...


def words_before(line: str) -> tuple[str, list[str], str] | None:
    """``(magic, complete words, word being typed)`` when the cursor is after a magic."""
    for magic in (CELL, LINE):
        if line.startswith(magic + " "):
            words = line[len(magic) + 1:].split(" ")
            return magic, [w for w in words[:-1] if w], words[-1]
    return None


def candidates(source: Source, magic: str, words: list[str], typed: str) -> list[str]:
    """Whole words that may replace ``typed``."""
    if magic == LINE and not words:
        return [name for name in COMMANDS if name.startswith(typed)]
    if magic == LINE:
        command = COMMANDS.get(words[0])
        options = opt.table(command.options) if command is not None else {}
    else:
        options = source.cell_option_table()
    key, eq, partial = typed.partition("=")
    if not eq:
        given = {w.partition("=")[0] for w in words}
        return [name + "=" for name in options if name.startswith(key) and name not in given]
    if key not in options:
        return []
    values = option_values(source, key, options[key], words)
    return [key + "=" + v for v in values if v.startswith(partial)][:MAX_VALUES]


def option_values(source: Source, key: str, option: opt.Option,
                  words: list[str]) -> list[str]:
    if key == "session":
        user = next((w[5:] for w in words if w.startswith("user=")), source.user)
        return _unique(s["session_id"] for s in source.known_sessions(user)
                       if s.get("user_id") == user)
    if key == "user":  # other users' ids are not offered: the store lists none
        return [source.user]
    if "|" in option.shape:
        return option.shape.split("|")
    return []


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v and " " not in v))


def agent_matcher(source: Source) -> Callable[[CompletionContext], SimpleMatcherResult]:
    """An IPython (API v2) matcher bound to ``source``."""

    @context_matcher(identifier=IDENTIFIER)
    def match(context: CompletionContext) -> SimpleMatcherResult:
        found = words_before(context.text_until_cursor)
        if found is None or (found[0] == CELL and context.cursor_line != 0):
            return {"completions": [], "suppress": False}
        magic, words, typed = found
        try:
            words_out = candidates(source, magic, words, typed)
        except Exception:  # noqa: BLE001 (a busy or missing store: complete nothing, quietly)
            words_out = []
        return {"completions": [SimpleCompletion(w, type="agent") for w in words_out],
                "matched_fragment": typed, "suppress": True}  # Python names make no sense here

    return match


def register(shell: Any, source: Source) -> None:
    shell.Completer.custom_matchers.append(agent_matcher(source))


def unregister(shell: Any) -> None:
    completer = getattr(shell, "Completer", None)
    if completer is not None:
        completer.custom_matchers[:] = [
            m for m in completer.custom_matchers
            if getattr(m, "matcher_identifier", None) != IDENTIFIER]
