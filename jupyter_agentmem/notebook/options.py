"""The magics' ``key=value`` options: one table of options, a parser each, usage from the table.

Values are checked here and a bad one is a ``UsageError`` that says what is valid.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from IPython.core.error import UsageError

_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}

Parser = Callable[[str, str], Any]


def on_off(name: str, value: str) -> bool:
    v = value.lower()
    if v in _ON | _OFF:
        return v in _ON
    raise UsageError(f"{name}={value!r} is not valid: use {name}=on or {name}=off.")


def runs_count(name: str, value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise UsageError(f"{name}={value!r} is not valid: give a whole number of runs >= 0.")
    return n


def non_empty(name: str, value: str) -> str:
    if not value.strip():
        raise UsageError(f"{name}= needs a value.")
    return value


def any_text(name: str, value: str) -> str:
    return value


def choice(*allowed: str) -> Parser:
    def parse(name: str, value: str) -> str:
        if value.lower() not in allowed:
            raise UsageError(f"{name}={value!r} is not valid: use one of {', '.join(allowed)}.")
        return value.lower()
    return parse


class Option:
    """One ``key=value`` option: how to read it, how to show it in the usage line.

    (A plain class: %load_ext defines it, and a dataclass or NamedTuple costs ~0.5-1 ms
    to define, as much as the rest of this module.)
    """

    __slots__ = ("help", "name", "parse", "required", "shape")

    def __init__(self, name: str, parse: Parser, shape: str, help: str = "",  # noqa: A002
                 required: bool = False) -> None:
        self.name = name
        self.parse = parse
        self.shape = shape  # the value in the usage line: ``ID``, ``N``, ``on|off``...
        self.help = help
        self.required = required  # shown without brackets

    def usage(self) -> str:
        text = f"{self.name}={self.shape}"
        return text if self.required else f"[{text}]"


def table(options: Iterable[Option]) -> dict[str, Option]:
    return {o.name: o for o in options}


def usage_of(options: Iterable[Option]) -> str:
    return " ".join(o.usage() for o in options)


def parse_options(line: str, options: dict[str, Option], usage: str) -> dict[str, Any]:
    """``a=1 b="two words"`` -> ``{"a": ..., "b": ...}``; anything else is a UsageError."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"Could not read the options ({exc}). {usage}") from None
    out: dict[str, Any] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            raise UsageError(f"{word!r} is not an option: write key=value. {usage}")
        if key not in options:
            raise UsageError(
                f"Unknown option {key!r}. Valid options: {', '.join(sorted(options))}. {usage}")
        if key in out:
            raise UsageError(f"Option {key!r} is given twice.")
        out[key] = options[key].parse(key, value)
    return out


def split_subcommand(line: str, names: Sequence[str], usage: str) -> tuple[str, str]:
    """``sessions x=1`` -> ``("sessions", "x=1")``; an unknown name is a UsageError."""
    head, _, rest = line.strip().partition(" ")
    names = sorted(names)
    if not head:
        raise UsageError(f"%agent needs a subcommand: {', '.join(names)}. {usage}")
    if head not in names:
        raise UsageError(f"Unknown subcommand {head!r}. Valid: {', '.join(names)}. {usage}")
    return head, rest


def require(found: dict[str, Any], options: dict[str, Option], usage: str) -> None:
    """A UsageError naming the required options that ``found`` lacks."""
    missing = [o.usage() for o in options.values() if o.required and o.name not in found]
    if missing:
        raise UsageError(f"This needs {' and '.join(missing)}. {usage}")


def count(low: int, high: int) -> Parser:
    """A whole number from ``low`` to ``high``."""
    def parse(name: str, value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            n = low - 1
        if not low <= n <= high:
            raise UsageError(f"{name}={value!r} is not valid: give a whole number from "
                             f"{low} to {high}.")
        return n
    return parse


def kinds(*allowed: str) -> Parser:
    """A comma-separated subset of ``allowed``."""
    def parse(name: str, value: str) -> tuple[str, ...]:
        picked = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
        wrong = [v for v in picked if v not in allowed]
        if wrong or not picked:
            raise UsageError(f"{name}={value!r} is not valid: use one or more of "
                             f"{', '.join(allowed)}, separated by commas.")
        return picked
    return parse


def leading_word(rest: str, name: str) -> str:
    """``"two words" a=1`` -> ``name="two words" a=1``: a first word that is not
    ``key=value`` fills the option ``name`` (quoted or bare)."""
    text = rest.lstrip()
    if not text:
        return rest
    if text[0] in "\"'":
        end = text.find(text[0], 1)
        if end < 0:
            return rest  # unbalanced: the parser says so
        word, after = text[:end + 1], text[end + 1:]
    else:
        word, _, after = text.partition(" ")
        if "=" in word:
            return rest
        word = shlex.quote(word)
    return f"{name}={word} {after}".strip()
