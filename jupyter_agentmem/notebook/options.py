"""The magics' ``key=value`` options: one table of options, a parser each, usage from the table.

Values are checked here and a bad one is a ``UsageError`` that says what is valid.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from IPython.core.error import UsageError

_ON = {"on", "true", "yes", "1"}
_OFF = {"off", "false", "no", "0"}

Parser = Callable[[str, str], Any]


def on_off(name: str, value: str) -> bool:
    v = value.lower()
    if v in _ON | _OFF:
        return v in _ON
    raise UsageError(f"{name}={shown(value)} is not valid: use {name}=on or {name}=off.")


MAX_RUNS = 10_000  # history=N: more runs than any window holds; 2**63 would overflow SQL


def shown(value: str, limit: int = 40) -> str:
    """``value`` as an error message quotes it: repr, cut (a 1 MB value is not echoed)."""
    if len(value) <= limit:
        return repr(value)
    return repr(value[:limit]) + f"... ({len(value):,} characters)"


def runs_count(name: str, value: str) -> int:
    # Digits only: int() would take "1_000", " 7 " and non-ASCII digits, and any size.
    if not re.fullmatch(r"[0-9]{1,6}", value) or int(value) > MAX_RUNS:
        raise UsageError(f"{name}={shown(value)} is not valid: give a whole number of runs "
                         f"from 0 to {MAX_RUNS:,}.")
    return int(value)


_NOT_IN_ID = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
MAX_ID = 256


def non_empty(name: str, value: str) -> str:
    """An id (session, user, model...): some text, no control characters, not huge."""
    if not value.strip():
        raise UsageError(f"{name}= needs a value.")
    if len(value) > MAX_ID:
        raise UsageError(f"{name}={shown(value)} is too long: an id has at most {MAX_ID} "
                         "characters.")
    bad = _NOT_IN_ID.search(value)
    if bad:
        raise UsageError(f"{name}={shown(value)} holds {shown(bad.group())}, which an id "
                         "cannot hold (a control character or a lone surrogate).")
    return value


def any_text(name: str, value: str) -> str:
    return value


_NOT_IN_TEXT = re.compile(r"[\x00\ud800-\udfff]")


def text(name: str, value: str) -> str:
    """Text that is sent to the model and stored (``system=``): no NUL byte and no lone
    surrogate, which no request can encode and no backend stores (refused here, before
    anything is sent: the call used to fail mid-turn and the run was not stored)."""
    bad = _NOT_IN_TEXT.search(value)
    if bad:
        raise UsageError(f"{name}={shown(value)} holds {shown(bad.group())} at character "
                         f"{bad.start():,}, which cannot be sent or stored (a NUL byte or a "
                         "lone surrogate). Remove it and run the cell again.")
    return value


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``": did you mean session?"`` when ``word`` is a typo of one of ``names``, else ``""``.

    difflib's ratio, cutoff 0.6: ``sesion`` -> session (0.92), ``histroy`` -> history
    (0.86); ``bogus`` is near nothing. A word too long to be a typo is not compared
    (the comparison is quadratic in its length).
    """
    import difflib  # on the error path only: %load_ext stays light

    if len(word) > 40:
        return ""
    close = difflib.get_close_matches(word.lower(), list(names), n=1)
    return f": did you mean {close[0]}?" if close else ""


def choice(*allowed: str) -> Parser:
    def parse(name: str, value: str) -> str:
        if value.lower() not in allowed:
            hint = did_you_mean(value, allowed)
            use = f"{hint} Use" if hint else ": use"
            raise UsageError(f"{name}={shown(value)} is not valid{use} one of "
                             f"{', '.join(allowed)}.")
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


# The words of an option line, read as a POSIX shell (and shlex.split) reads them:
# whitespace separates words; '...' is literal; "..." is literal but for \" and \\;
# outside quotes a backslash takes the next character as it is; an unquoted # starting
# a word starts a comment (IPython passes it to line magics). Not shlex itself: it
# is quadratic (a 100,000-character line takes 0.25 s, 1,000,000 takes 18 s; measured,
# bench/bench_options.py). These patterns cannot backtrack: linear in the line.
_WORD = re.compile(r"""(?:[^ \t\r\n'"\\]+|'[^']*'|"[^"\\]*(?:\\.[^"\\]*)*"|\\.)+""", re.S)
_SPACE = re.compile(r"[ \t\r\n]*")
_PIECE = re.compile(r"""'([^']*)'|"([^"\\]*(?:\\.[^"\\]*)*)"|\\(.)""", re.S)


def _free_chars(text: str, n: int) -> list[str]:
    """``n`` characters ``text`` does not hold (a str has more code points than a line)."""
    used = set(text)
    return [c for c, _ in zip((c for c in map(chr, range(0x10FFFF, -1, -1))
                               if c not in used), range(n))]


def _unquote(word: str) -> str:
    """A word without its quotes and escapes, in passes of C, no Python call per piece
    (``"\\"a"`` x 200,000 took 1.4 s with a callback per piece; ~0.15 s so)."""
    # split -> [plain, 'single', "double", \escaped, plain, ...]; None where no match.
    parts: list[str | None] = _PIECE.split(word)
    doubles = parts[2::4]
    if any(d and "\\" in d for d in doubles):
        # In "...", \\ is \ and \" is "; any other backslash stays. A double-quoted
        # piece is a row of units (a character, or a backslash and the next one), and
        # str.replace pairs backslashes from the left as the units do.
        sep, backslash = _free_chars(word, 2)
        joined = sep.join(d or "" for d in doubles)
        joined = joined.replace("\\\\", backslash).replace('\\"', '"')
        parts[2::4] = joined.replace(backslash, "\\").split(sep)
    return "".join(filter(None, parts))


def words_of(line: str) -> Iterator[str]:
    """The words of ``line``, one at a time (a caller that stops early reads no further)."""
    at = _SPACE.match(line).end()
    while at < len(line):
        if line[at] == "#":  # a comment, as in a shell: ``%agent history  # note``
            return
        word = _WORD.match(line, at)
        end = word.end() if word else at
        if end < len(line) and line[end] not in " \t\r\n":
            # Only an unclosed quote or a backslash at the end stop a word elsewhere.
            what = "a backslash at the end" if line[end:] == "\\" else "an unclosed quote"
            raise ValueError(f"{what} after {end:,} characters")
        text = word.group()
        if "'" in text or '"' in text or "\\" in text:
            text = _unquote(text)
        yield text
        at = _SPACE.match(line, word.end()).end()


def parse_options(line: str, options: dict[str, Option], usage: str) -> dict[str, Any]:
    """``a=1 b="two words"`` -> ``{"a": ..., "b": ...}``; anything else is a UsageError.

    Linear in the line: a 1 MB line is read, or refused at its first bad word, in
    milliseconds (bench/bench_options.py).
    """
    out: dict[str, Any] = {}
    try:
        for word in words_of(line):
            key, eq, value = word.partition("=")
            if not eq:
                raise UsageError(f"{shown(word)} is not an option: write key=value. {usage}")
            if key not in options:
                raise UsageError(unknown_option(key, options, usage))
            if key in out:
                raise UsageError(f"Option {shown(key)} is given twice.")
            out[key] = options[key].parse(key, value)
    except ValueError as exc:
        raise UsageError(f"Could not read the options ({exc}). {usage}") from None
    return out


def unknown_option(key: str, options: dict[str, Option], usage: str) -> str:
    """What to say of an option the table does not have: the likely one, when there is
    one (and then no usage line: the fix is that one word), else the usage."""
    hint = did_you_mean(key, options)
    valid = f"Valid options: {', '.join(sorted(options))}." if options else "It takes no options."
    return f"Unknown option {shown(key)}{hint or '.'} {valid}" + ("" if hint else f" {usage}")


def split_subcommand(line: str, names: Sequence[str]) -> tuple[str, str]:
    """``sessions x=1`` -> ``("sessions", "x=1")``; an unknown name is a UsageError that
    names the likely one and lists the others (``%agent help`` has their options)."""
    parts = line.split(None, 1)
    head, rest = (parts + ["", ""])[:2]
    names = sorted(names)
    if not head:
        raise UsageError(f"%agent needs a subcommand: {', '.join(names)}. "
                         "%agent help shows each one's options.")
    if head not in names:
        raise UsageError(f"Unknown subcommand {shown(head)}{did_you_mean(head, names) or '.'} "
                         f"Valid: {', '.join(names)}. %agent help shows each one's options.")
    return head, rest


def require(found: dict[str, Any], options: dict[str, Option], usage: str) -> None:
    """A UsageError naming the required options that ``found`` lacks."""
    missing = [o.usage() for o in options.values() if o.required and o.name not in found]
    if missing:
        raise UsageError(f"This needs {' and '.join(missing)}. {usage}")


def count(low: int, high: int) -> Parser:
    """A whole number from ``low`` to ``high``."""
    def parse(name: str, value: str) -> int:
        # ASCII digits only: int() would take "1_000", " 7 ", "٣" and any size.
        n = int(value) if re.fullmatch(r"[0-9]{1,9}", value) else low - 1
        if not low <= n <= high:
            raise UsageError(f"{name}={shown(value)} is not valid: give a whole number from "
                             f"{low} to {high}.")
        return n
    return parse


def kinds(*allowed: str) -> Parser:
    """A comma-separated subset of ``allowed``."""
    def parse(name: str, value: str) -> tuple[str, ...]:
        picked = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
        wrong = [v for v in picked if v not in allowed]
        if wrong or not picked:
            raise UsageError(f"{name}={shown(value)} is not valid: use one or more of "
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
