"""What looks like a credential in a notebook value, before ``{name}`` sends it.

The value is walked, not only its rendering: a rendering cuts (a DataFrame shows five
rows of 40-character cells, a list its first 50 items, a long string its start), and a
key cut short no longer looks like one but is still a secret sent. Walked: strings,
bytes, dict values (a value under a key-like name, ``password``, ``api_key``, ``token``,
is a secret whatever it looks like), list / tuple / set items (and adjacent string items
joined: a key split across items), DataFrame and Series cells with their column names
and index, NumPy arrays of text. What is looked for in each text:

- well-known key shapes (OpenAI, Anthropic, GitHub, AWS access key ids, Slack, Google),
  AWS secret keys (40 characters with ``/`` or ``+``), 32-64 hex keys, JWTs, PEM private
  key blocks, URLs with a password, ``password = "..."`` assignments, and long
  high-entropy tokens (32+ characters mixing upper, lower case and digits).

Not taken for keys (tested): git SHAs of 7-12 characters, UUIDs, hashes labelled as
such (``sha256:...``, ``commit ...``), prose, numbers, file paths, placeholders
(``***``, ``<your key>``, ``${TOKEN}``).

The walk is bounded: at most ``MAX_SCAN_CHARS`` characters and ``MAX_SCAN_LEAVES``
leaves of a value are read (*measured*, bench/bench_deadlines.py: a 1,000,000-row
DataFrame of text is scanned in ~0.1 s). What is rendered, and so sent, is always
scanned whole besides (``context.py``); the cap only limits how much of the rest of a
very large value is looked at.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_SCAN_CHARS = 2_000_000
MAX_SCAN_LEAVES = 200_000
MAX_DEPTH = 20  # nesting deeper than this is not walked (its rendering is scanned)

# --- text -------------------------------------------------------------------------
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{30,})")
_PEM_PRIVATE = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_JWT = re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\."
                  r"[A-Za-z0-9_\-]*")
# scheme://user:password@ (a user may be empty: redis://:password@host)
_URL_PASSWORD = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]{0,30}://"
                           r"[^\s/:@'\"<>]{0,256}:([^\s/@'\"<>]{1,256})@")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_HEX_KEY = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,64}(?![A-Za-z0-9])")
# A hex string after one of these is a hash, not a key (docker digests, git output).
_HASH_LABELS = ("sha1:", "sha256:", "sha512:", "md5:", "sha1=", "sha256=", "md5=",
                "commit ", "sha256-", "sha512-", "sha ")
# "password": "..." / password = '...' / PASSWORD="..." (a quoted value: code, JSON, a
# dict's repr, an .env line); the name is judged by ``secret_name``.
_ASSIGNED = re.compile(r"([A-Za-z_][A-Za-z0-9_.\-]{0,60})[\"']?\s{0,3}[:=]\s{0,3}"
                       r"[bru]?[\"']([^\"'\n]{1,500})[\"']")
_ASSIGNED_HINT = re.compile(r"passw|passphrase|pwd|secret|token|credential|key|auth",
                            re.IGNORECASE)
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+=]{32,}")
# Bits per char: hex (sha256, uuids) tops at 4.0, a path piece like
# "site-packages-IPython-core-interactiveshell" ~4.2, 32 random base62 chars ~4.6+;
# a 40-character path with capitals and digits ~4.2, the AWS documentation's example
# secret key 4.66.
_TOKEN_ENTROPY_BITS = 4.3
_AWS_ENTROPY_BITS = 4.4


@dataclass(frozen=True)
class Credential:
    """What was found (never the text itself): its kind, where in the value, its length,
    and why when a name says so (``under 'password'``)."""

    kind: str
    where: str
    length: int
    why: str = ""

    def describe(self) -> str:
        place = f"its {self.where}" if self.where else "it"
        why = f"{self.why}, " if self.why else ""
        return f"{place} looks like {self.kind} ({why}{self.length} characters, not shown)"


def _at(where: str, part: str) -> str:
    return f"{where}, {part}" if where else part


def _entropy(word: str) -> float:
    counts: dict[str, int] = {}
    for c in word:
        counts[c] = counts.get(c, 0) + 1
    n = len(word)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def _mixed(word: str) -> bool:
    return (any(c.isupper() for c in word) and any(c.islower() for c in word)
            and any(c.isdigit() for c in word))


_PLACEHOLDER = re.compile(
    r"[\s*xX.#?\-_]*|<[^<>]*>|\{\{?[^{}]*\}?\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%\(?\w*\)?s"
    r"|(?i:none|null|nil|redacted|hidden|changeme|example|password|secret|token|pass"
    r"|your[_\- ]?\w*)")


def is_placeholder(value: str) -> bool:
    """``***``, ``<your key>``, ``${TOKEN}``, ``%s``, ``None``, ``YOUR_API_KEY``: a
    stand-in for a secret, not one."""
    return _PLACEHOLDER.fullmatch(value.strip()) is not None


def text_credential(text: str) -> tuple[str, int] | None:
    """``(kind, length)`` of the first credential-like piece of ``text``, or None."""
    found = _first(text)
    return None if found is None else (found[0], found[2])


def _first(text: str) -> tuple[str, int, int] | None:
    """``(kind, start, length)`` of the first credential-like piece of ``text``."""
    found = _PEM_PRIVATE.search(text)
    if found is not None:
        end = text.find("-----END", found.end())
        return ("a PEM private key block", found.start(),
                (end if end != -1 else len(text)) - found.start())
    found = _KEY_SHAPES.search(text)
    if found is not None:
        return "an API key", found.start(), len(found.group(0))
    found = _JWT.search(text)
    if found is not None:
        return "a JWT (a signed token)", found.start(), len(found.group(0))
    for found in _URL_PASSWORD.finditer(text):
        if not is_placeholder(found.group(1)):
            return "a URL with a password", found.start(), len(found.group(0))
    for found in _AWS_SECRET.finditer(text):
        word = found.group(0)
        if ("/" in word or "+" in word) and _mixed(word) and _entropy(word) > _AWS_ENTROPY_BITS:
            return "an AWS secret access key", found.start(), len(word)
    for found in _HEX_KEY.finditer(text):
        word = found.group(0)
        before = text[max(0, found.start() - 8):found.start()].lower()
        if (any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
                and not before.endswith(_HASH_LABELS)):
            return f"a {len(word)}-character hex key", found.start(), len(word)
    if _ASSIGNED_HINT.search(text) is not None:
        for found in _ASSIGNED.finditer(text):
            name, value = found.group(1), found.group(2)
            if secret_value(name, value):
                return (f"a secret assigned to {name.rsplit('.', 1)[-1]!r:.40}",
                        found.start(2), len(value))
    for found in _LONG_TOKEN.finditer(text):
        word = found.group(0)
        if _mixed(word) and _entropy(word) > _TOKEN_ENTROPY_BITS:
            return "an API key", found.start(), len(word)
    return None


# --- names ------------------------------------------------------------------------
_NAME_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# The last word of a name that holds a secret whatever its value looks like ...
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "passphrase", "secret", "secrets", "token", "credential",
    "credentials", "apikey", "authorization", "privatekey", "passcode", "pin"})
# ... "key" after one of these ...
_KEY_KINDS = frozenset({"api", "access", "secret", "private", "signing", "encryption",
                        "master", "client", "license", "ssh", "app", "service", "account",
                        "auth", "session", "webhook"})
# ... but not a token that only pages through results.
_NOT_SECRET_BEFORE = frozenset({"page", "cursor", "continuation", "next", "sync"})


def secret_name(name: str) -> str | None:
    """``"strong"`` for a name whose value is a secret (``password``, ``api_key``,
    ``clientSecret``), ``"weak"`` for one that may be (``key``, ``auth``), else None."""
    words = [w.lower() for w in _NAME_WORDS.findall(name)]
    if not words:
        return None
    last, before = words[-1], (words[-2] if len(words) > 1 else "")
    if last in _SECRET_WORDS and before not in _NOT_SECRET_BEFORE:
        return "strong"
    if last == "key":
        return "strong" if before in _KEY_KINDS else "weak"
    if last in {"auth", "pass", "dsn"}:
        return "weak"
    return None


def _token_like(value: str) -> bool:
    text = value.strip()
    return (len(text) >= 8 and not any(c.isspace() for c in text)
            and any(c.isdigit() for c in text) and any(c.isalpha() for c in text))


def secret_value(name: str, value: str) -> bool:
    """Whether ``value``, held under ``name``, is to be taken for a secret."""
    strength = secret_name(name)
    if strength is None or is_placeholder(value):
        return False
    return strength == "strong" or _token_like(value)


# --- values -----------------------------------------------------------------------
class _Budget:
    def __init__(self, chars: int, leaves: int) -> None:
        self.chars = chars
        self.leaves = leaves

    def take(self, text: str) -> str | None:
        """``text`` as far as the budget reaches (None once it is spent)."""
        if self.leaves <= 0 or self.chars <= 0:
            return None
        self.leaves -= 1
        piece = text[:self.chars]
        self.chars -= len(piece)
        return piece


def _as_text(value: Any, budget: _Budget) -> str | None:
    """A leaf's text (str, or bytes decoded), cut to the budget; None if not a leaf."""
    if isinstance(value, str):
        return budget.take(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        head = bytes(value[:max(0, budget.chars)])
        return budget.take(head.decode("utf-8", "replace"))
    return None


def _is(value: Any, module: str, name: str) -> bool:
    mod = sys.modules.get(module)
    kind = getattr(mod, name, None) if mod is not None else None
    return kind is not None and isinstance(value, kind)


def find_credential(value: Any, max_chars: int = MAX_SCAN_CHARS,
                    max_leaves: int = MAX_SCAN_LEAVES) -> Credential | None:
    """The first credential-like leaf of ``value`` (at most ``max_chars`` characters in
    ``max_leaves`` leaves are read), or None."""
    return _walk(value, "", None, _Budget(max_chars, max_leaves), 0)


def _walk(value: Any, where: str, under: str | None, budget: _Budget,
          depth: int) -> Credential | None:
    text = _as_text(value, budget)
    if text is not None:
        return _leaf(text, where, under)
    if depth > MAX_DEPTH or budget.leaves <= 0 or budget.chars <= 0:
        return None
    if isinstance(value, Mapping):
        return _walk_mapping(value, where, budget, depth)
    if isinstance(value, (list, tuple)):
        return _walk_sequence(value, where, under, budget, depth)
    if isinstance(value, (set, frozenset)):
        return _walk_items(itertools.islice(value, budget.leaves), where, under, budget,
                           depth)
    if _is(value, "pandas", "DataFrame"):
        return _walk_frame(value, where, budget, depth)
    if _is(value, "pandas", "Series") or _is(value, "pandas", "Index"):
        name = getattr(value, "name", None)
        found = _walk_column(value, where, name if isinstance(name, str) else under,
                             budget, depth)
        return found if found is not None else _walk_index(value, where, budget, depth)
    if _is(value, "numpy", "ndarray") and value.dtype.kind in "USO":
        flat = value.reshape(-1)[:budget.leaves].tolist()
        return _walk_items(flat, where, under, budget, depth)
    return None


def _leaf(text: str, where: str, under: str | None) -> Credential | None:
    if under is not None and secret_value(under, text):
        return Credential("a secret", where, len(text), f"under {under!r:.40}")
    found = text_credential(text)
    if found is not None:
        return Credential(found[0], where, found[1])
    return None


def _walk_mapping(value: Mapping[Any, Any], where: str, budget: _Budget,
                  depth: int) -> Credential | None:
    for key, item in itertools.islice(value.items(), budget.leaves):
        label = f"{where}[{key!r:.40}]"
        if isinstance(key, str):
            found = _walk(key, f"{where} (a key)", None, budget, depth + 1)
            if found is not None:
                return found
        found = _walk(item, label, key if isinstance(key, str) else None, budget, depth + 1)
        if found is not None:
            return found
    return None


def _walk_sequence(value: list[Any] | tuple[Any, ...], where: str, under: str | None,
                   budget: _Budget, depth: int) -> Credential | None:
    items = value[:budget.leaves]
    # ("password", "hunter2"): a pair names its own second item.
    if (len(items) == 2 and isinstance(items[0], str) and isinstance(items[1], str)
            and secret_value(items[0], items[1])):
        return Credential("a secret", f"{where}[1]", len(items[1]),
                          f"paired with {items[0]!r:.40}")
    found = _walk_items(items, where, under, budget, depth)
    if found is not None:
        return found
    return _split_across(items, where)


def _walk_items(items: Iterable[Any], where: str, under: str | None, budget: _Budget,
                depth: int) -> Credential | None:
    for i, item in enumerate(items):
        found = _walk(item, f"{where}[{i}]", under, budget, depth + 1)
        if found is not None or budget.leaves <= 0:
            return found
    return None


def _split_across(items: list[Any] | tuple[Any, ...], where: str) -> Credential | None:
    """A key cut into adjacent string items (``["sk-proj-Ab3d", "Ef6hIj..."]``)."""
    run: list[str] = []
    start = 0
    for i, item in enumerate([*items, None]):
        if isinstance(item, str):
            if not run:
                start = i
            run.append(item)
            continue
        if len(run) > 1:
            found = text_credential("".join(run))
            if found is not None:
                return Credential(found[0] + ", split across items",
                                  f"{where}[{start}:{start + len(run)}]", found[1])
        run = []
    return None


def _walk_frame(frame: Any, where: str, budget: _Budget, depth: int) -> Credential | None:
    for i, column in enumerate(frame.columns[:budget.leaves]):
        name = column if isinstance(column, str) else None
        if name is not None:
            found = _walk(name, f"{where}a column name", None, budget, depth + 1)
            if found is not None:
                return found
        # By position: a duplicated column name would give a frame.
        found = _walk_column(frame.iloc[:, i], f"{where}column {column!r:.40}", name, budget,
                             depth)
        if found is not None:
            return found
    return _walk_index(frame, where, budget, depth)


def _walk_index(data: Any, where: str, budget: _Budget, depth: int) -> Credential | None:
    index = getattr(data, "index", None)
    if index is None or index.dtype.kind not in "OSU":
        return None
    return _walk_items(index[:budget.leaves].tolist(), f"{where}index", None, budget, depth)


def _walk_column(column: Any, where: str, name: str | None, budget: _Budget,
                 depth: int) -> Credential | None:
    """The text cells of one column (numbers and dates hold no text: skipped)."""
    if column.dtype.kind not in "OSU":
        return None
    head = column.iloc[:budget.leaves] if hasattr(column, "iloc") else column[:budget.leaves]
    cells = head.tolist()
    texts: list[str] = []
    rows: list[int] = []
    for row, cell in enumerate(cells):
        if isinstance(cell, str):
            piece = budget.take(cell)
            if piece is None:
                break
            texts.append(piece)
            rows.append(row)
        elif cell is not None and not isinstance(cell, (int, float)):
            found = _walk(cell, _at(where, f"row {row}"), name, budget, depth + 1)
            if found is not None:
                return found
    if name is not None and secret_name(name) is not None:
        for row, text in zip(rows, texts):
            if secret_value(name, text):
                return Credential("a secret", _at(where, f"row {row}"), len(text),
                                  f"in column {name!r:.40}")
    # One scan of the column's text (joined by newlines, which no key shape crosses)
    # instead of one per cell: ~20x faster over a million short cells.
    joined = "\n".join(texts)
    found = _first(joined)
    if found is None:
        return None
    kind, start, length = found
    starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
    row = rows[bisect.bisect_right(starts, start) - 1]
    return Credential(kind, _at(where, f"row {row}"), length)
