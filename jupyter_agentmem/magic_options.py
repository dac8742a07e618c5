"""Parsing ``key=value`` options of the magics: one table of options, one parser each."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable
from typing import Any

from IPython.core.error import UsageError

_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}


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


def choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(name: str, value: str) -> str:
        if value.lower() not in allowed:
            raise UsageError(f"{name}={value!r} is not valid: use one of {', '.join(allowed)}.")
        return value.lower()
    return parse


Parsers = dict[str, Callable[[str, str], Any]]


def parse_options(line: str, parsers: Parsers, usage: str) -> dict[str, Any]:
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
        if key not in parsers:
            raise UsageError(
                f"Unknown option {key!r}. Valid options: {', '.join(sorted(parsers))}. {usage}")
        if key in out:
            raise UsageError(f"Option {key!r} is given twice.")
        out[key] = parsers[key](key, value)
    return out


def split_subcommand(line: str, names: Iterable[str], usage: str) -> tuple[str, str]:
    """``sessions x=1`` -> ``("sessions", "x=1")``; an unknown name is a UsageError."""
    head, _, rest = line.strip().partition(" ")
    names = sorted(names)
    if not head:
        raise UsageError(f"%agent needs a subcommand: {', '.join(names)}. {usage}")
    if head not in names:
        raise UsageError(f"Unknown subcommand {head!r}. Valid: {', '.join(names)}. {usage}")
    return head, rest
