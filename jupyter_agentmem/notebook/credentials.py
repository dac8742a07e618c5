"""What looks like a credential in a notebook value, before ``{name}`` sends it.

The value is walked, not only its rendering: a rendering cuts (a DataFrame shows five
rows of 40-character cells, a list its first 50 items, a long string its start), and a
key cut short no longer looks like one but is still a secret sent. Walked: strings,
bytes, dict keys and values (a value under a key-like name, ``password``, ``api_key``,
``token``, is a secret whatever it looks like), list / tuple / set items (and adjacent
string items joined: a key split across items), DataFrame and Series cells with their
column names and index, NumPy arrays of text. What is looked for in a text:

- well-known key shapes (OpenAI, Anthropic, GitHub, AWS access key ids, Slack, Google),
  AWS secret keys (40 characters with ``/`` or ``+``), 32-64 hex keys, JWTs, PEM private
  key blocks, URLs with a password, long high-entropy tokens (32+ characters mixing
  upper, lower case and digits);
- in the rendering (what is sent) also quoted assignments to a secret's name:
  ``password="..."``, ``"api_key": "..."``, ``TOKEN='...'``.

Not taken for keys (tested): git SHAs of 7-12 characters, UUIDs, hashes labelled as
such (``sha256:...``, ``commit ...``), prose, numbers, file paths, placeholders
(``***``, ``<your key>``, ``${TOKEN}``).

The walk is bounded: at most ``MAX_SCAN_CHARS`` characters in ``MAX_SCAN_LEAVES``
text leaves, ``MAX_CONTAINERS`` nested containers and ``MAX_COLUMNS`` text columns of
a value are read, in the order of the value (a frame row by row, so the first rows of
every column come first; numbers cost nothing but a type check). Leaves are scanned
in batches (joined by newlines, which no key shape crosses), not one by one
(*measured*, bench/bench_inputs.py scan: one by one, a list of 1M strings took 2.2 s).
What is rendered, and so sent, is always scanned whole besides (``context.py``): the
caps only limit how much of the rest of a very large value is looked at.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_SCAN_CHARS = 1_000_000
MAX_SCAN_LEAVES = 100_000
MAX_DEPTH = 20  # nesting deeper than this is not walked (its rendering is scanned)
MAX_CONTAINERS = 10_000  # dicts, lists, ... walked (each costs a few us, even empty)
MAX_COLUMNS = 1_000  # text columns of a frame read

# --- text -------------------------------------------------------------------------
# Each pattern runs only when a cheap substring test says it can match: a scan of 1 MB
# of prose with all of them unguarded took ~0.6 s, an unanchored assignment pattern
# 8.6 s over 1 MB of base64 (it retried a 60-character name at every position).
_KEY_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AIza[0-9A-Za-z_\-]{30,})")
_KEY_PREFIXES = ("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA",
                 "xoxa-", "xoxb-", "xoxp-", "xoxr-", "xoxs-", "AIza")
_PEM_PRIVATE = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_JWT = re.compile(r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{5,}\.eyJ[A-Za-z0-9_\-]{5,}\."
                  r"[A-Za-z0-9_\-]*")
# ://user:password@ (the user may be empty: redis://:password@host); starts with a
# literal, which the regex engine searches for fast.
_URL_PASSWORD = re.compile(r"://[^\s/:@'\"<>]{0,256}:([^\s/@'\"<>]{1,256})@")
# A run of token characters at least 32 long, found once from its start (the
# look-behind stops the engine re-reading a run from each of its positions); the
# shapes below are looked for inside the few runs a text has.
_RUN = re.compile(r"(?<![A-Za-z0-9_\-+=/])[A-Za-z0-9_\-+=/]{32,}")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_HEX_KEY = re.compile(r"(?<![A-Za-z0-9])[0-9a-fA-F]{32,64}(?![A-Za-z0-9])")
_LONG_TOKEN = re.compile(r"[A-Za-z0-9_\-+=]{32,}")
_DIGIT = re.compile(r"[0-9]")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{32}")
# A hex string after one of these is a hash, not a key (docker digests, git output).
_HASH_LABELS = ("sha1:", "sha256:", "sha512:", "md5:", "sha1=", "sha256=", "md5=",
                "commit ", "sha256-", "sha512-", "sha ")
# Bits per char: hex (sha256, uuids) tops at 4.0, a path piece like
# "site-packages-IPython-core-interactiveshell" ~4.2, 32 random base62 chars ~4.6+;
# a 40-character path with capitals and digits ~4.2, the AWS documentation's example
# secret key 4.66.
_TOKEN_ENTROPY_BITS = 4.3
_AWS_ENTROPY_BITS = 4.4
# "password": "..." / password = '...' / PASSWORD="...": an operator followed by a
# quote, then the name before it, read backwards (a pattern anchored at the end of a
# window is tried from each of its positions: ~20 us an operator, against ~2).
_ASSIGN_OP = re.compile(r"[:=]\s{0,3}[bru]?[\"']")
_NAME_REVERSED = re.compile(r"\s{0,3}[\"']?([A-Za-z0-9_.\-]{1,61})")
_QUOTED = re.compile(r"([^\"'\n]{1,500})[\"']")
# A secret's name holds one of these, in lower case (str.find: a case-insensitive
# alternation searched 500 KB of dict keys in 135 ms, the finds in ~2).
_HINTS = ("pass", "pwd", "secret", "token", "credential", "key", "auth", "pin", "dsn")


def _has_hint(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in _HINTS)


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


SAMPLE_CHARS = 256  # a token longer than this is judged by its start (a blob, not a key)


def _entropy(word: str) -> float:
    word = word[:SAMPLE_CHARS]
    n = len(word)
    return -sum(k / n * math.log2(k / n) for k in map(word.count, set(word)))


def _mixed(word: str) -> bool:
    sample = word[:SAMPLE_CHARS]
    return (sample.lower() != sample and sample.upper() != sample
            and any(c.isdigit() for c in sample))


_PLACEHOLDER = re.compile(
    r"[\s*xX.#?\-_]*|<[^<>]*>|\{\{?[^{}]*\}?\}|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%\(?\w*\)?s"
    r"|(?i:none|null|nil|redacted|hidden|changeme|example|password|secret|token|pass"
    r"|your[_\- ]?\w*)")


def is_placeholder(value: str) -> bool:
    """``***``, ``<your key>``, ``${TOKEN}``, ``%s``, ``None``, ``YOUR_API_KEY``: a
    stand-in for a secret, not one."""
    return _PLACEHOLDER.fullmatch(value.strip()) is not None


def text_credential(text: str, assignments: bool = True) -> tuple[str, int] | None:
    """``(kind, length)`` of the first credential-like piece of ``text``, or None
    (``assignments``: also ``password = "..."``)."""
    found = _first(text, assignments)
    return None if found is None else (found[0], found[2])


def _first(text: str, assignments: bool = False) -> tuple[str, int, int] | None:
    """``(kind, start, length)`` of the first credential-like piece of ``text``."""
    if "PRIVATE KEY" in text:
        found = _PEM_PRIVATE.search(text)
        if found is not None:
            end = text.find("-----END", found.end())
            return ("a PEM private key block", found.start(),
                    (end if end != -1 else len(text)) - found.start())
    if any(prefix in text for prefix in _KEY_PREFIXES):
        found = _KEY_SHAPES.search(text)
        if found is not None:
            return "an API key", found.start(), len(found.group(0))
    if "eyJ" in text:
        found = _JWT.search(text)
        if found is not None:
            return "a JWT (a signed token)", found.start(), len(found.group(0))
    if "://" in text:
        for found in _URL_PASSWORD.finditer(text):
            if not is_placeholder(found.group(1)):
                return "a URL with a password", found.start(), len(found.group(0))
    for run in _RUN.finditer(text):
        found_in_run = _in_run(text, run.group(0), run.start())
        if found_in_run is not None:
            return found_in_run
    if assignments:
        return _assignment(text)
    return None


def _in_run(text: str, run: str, at: int) -> tuple[str, int, int] | None:
    """An AWS secret key, a hex key or a high-entropy token in one run of token
    characters that starts at ``text[at]`` (the cheapest tests first: a text of many
    runs, a column of ids, is ~1 us a run)."""
    if _DIGIT.search(run) is None:  # each of the three has a digit: most runs end here
        return None
    if "/" in run or "+" in run:
        for found in _AWS_SECRET.finditer(run):
            word = found.group(0)
            if _mixed(word) and _entropy(word) > _AWS_ENTROPY_BITS:
                return "an AWS secret access key", at + found.start(), len(word)
    if _HEX_RUN.search(run) is not None:
        for found in _HEX_KEY.finditer(run):
            word = found.group(0)
            start = at + found.start()
            before = text[max(0, start - 8):start].lower()
            if (not word.isdigit() and _DIGIT.search(word) is not None
                    and not before.endswith(_HASH_LABELS)):
                return f"a {len(word)}-character hex key", start, len(word)
    if run.lower() != run and run.upper() != run:  # both cases: a token may be mixed
        for found in _LONG_TOKEN.finditer(run):
            word = found.group(0)
            if _mixed(word) and _entropy(word) > _TOKEN_ENTROPY_BITS:
                return "an API key", at + found.start(), len(word)
    return None


def _assignment(text: str) -> tuple[str, int, int] | None:
    """A quoted value assigned to a secret's name (``password="hunter2"``)."""
    for op in _ASSIGN_OP.finditer(text):
        before = _NAME_REVERSED.match(text[max(0, op.start() - 66):op.start()][::-1])
        if before is None:
            continue
        name = before.group(1)[::-1].lstrip("0123456789.-")
        if not name or secret_name(name) is None:
            continue
        value = _QUOTED.match(text, op.end())
        if value is not None and secret_value(name, value.group(1)):
            return (f"a secret assigned to {name.rsplit('.', 1)[-1]!r:.40}",
                    value.start(1), len(value.group(1)))
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
    if not _has_hint(name):
        return None  # most names: no word split needed
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
_SCALARS = frozenset({int, float, bool, complex, type(None)})
_BYTES = (bytes, bytearray, memoryview)
HEAD_ROWS = 20  # a series' first values (what a rendering shows) come first
BATCH_CHARS = 200_000  # leaves joined for one scan


class _Found(Exception):  # noqa: N818 (control flow: ends the walk with what was found)
    def __init__(self, credential: Credential) -> None:
        self.credential = credential


# How a queued leaf says where it is: (format, where, index) -> text, made only for the
# leaf found (making a label per leaf cost more than scanning it).
_PLAIN, _ITEM, _ROW, _KEY, _LABEL = 0, 1, 2, 3, 4


def _label(kind: int, where: str, index: Any) -> str:
    if kind == _LABEL:  # index: the whole label
        return str(index)
    if kind == _ITEM:
        return f"{where}[{index}]"
    if kind == _ROW:
        return f"{where}, row {index}" if where else f"row {index}"
    if kind == _KEY:  # index: the key
        return f"{where}[{index!r:.40}]"
    return where


class _Scan:
    """The walk of one value: a budget, and text leaves batched for one scan each."""

    def __init__(self, chars: int, leaves: int) -> None:
        self.chars = chars
        self.leaves = leaves
        self.containers = MAX_CONTAINERS
        self._texts: list[str] = []
        # Where the queued leaves are, a segment per add: (first leaf, kind, where,
        # indices); a label is made only for the leaf found.
        self._segments: list[tuple[int, int, str, Sequence[Any]]] = []
        self._queued = 0

    @property
    def spent(self) -> bool:
        return self.leaves <= 0 or self.chars <= 0

    def add(self, text: str, kind: int, where: str, index: Any = 0) -> None:
        """Queue a text leaf (cut to the budget) for the next batch scan."""
        self.add_many([text], (index,), kind, where)

    def add_many(self, texts: list[str], indices: Sequence[Any], kind: int,
                 where: str) -> None:
        """Queue text leaves (a column, a list's strings), as far as the budget reaches."""
        if self.spent or not texts:
            return
        texts = texts[:self.leaves]
        lengths = list(itertools.accumulate(map(len, texts)))
        if lengths[-1] > self.chars:  # the leaf that crosses the budget is cut
            fit = bisect.bisect_right(lengths, self.chars)
            texts = texts[:fit + 1]
            texts[fit] = texts[fit][:self.chars - (lengths[fit - 1] if fit else 0)]
            lengths = lengths[:fit + 1]
            lengths[fit] = self.chars
        self._segments.append((len(self._texts), kind, where, indices))
        self._texts.extend(texts)
        self.leaves -= len(texts)
        self.chars -= lengths[-1]
        self._queued += lengths[-1]
        if self._queued >= BATCH_CHARS:
            self.flush()

    def flush(self) -> None:
        """Scan the queued leaves at once; raise ``_Found`` with the first finding."""
        texts, segments = self._texts, self._segments
        self._texts, self._segments, self._queued = [], [], 0
        if not texts:
            return
        joined = "\n".join(texts)
        found = _first(joined)
        if found is None:
            return
        kind, start, length = found
        starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
        leaf = bisect.bisect_right(starts, start) - 1
        first, place, where, indices = segments[
            bisect.bisect_right([s[0] for s in segments], leaf) - 1]
        raise _Found(Credential(kind, _label(place, where, indices[leaf - first]), length))

    def named(self, name: str, text: str, where: str, why: str) -> None:
        """A text leaf held under ``name``: a secret when the name says so."""
        if secret_value(name, text):
            raise _Found(Credential("a secret", where, len(text), why))
        self.add(text, _PLAIN, where)


_FLAT = _SCALARS | {str}


def _split(items: Sequence[Any]) -> tuple[list[int], list[int]]:
    """The indices of the strings among ``items``, and of what is walked further (not
    a number or a string). One ``type`` per item, and none of the per-item tests when
    the items are of one kind (most columns and lists)."""
    types = list(map(type, items))
    kinds = set(types)
    if kinds == {str}:
        return list(range(len(items))), []
    strings = [i for i, kind in enumerate(types) if kind is str] if str in kinds else []
    nested = [] if kinds <= _FLAT else [i for i, kind in enumerate(types)
                                        if kind not in _FLAT]
    return strings, nested


def _is(value: Any, module: str, name: str) -> bool:
    mod = sys.modules.get(module)
    kind = getattr(mod, name, None) if mod is not None else None
    return kind is not None and isinstance(value, kind)


def _text_of(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, _BYTES):
        return bytes(value[:MAX_SCAN_CHARS]).decode("utf-8", "replace")
    return None


def _at(where: str, part: str) -> str:
    return f"{where}, {part}" if where else part


def find_credential(value: Any, max_chars: int = MAX_SCAN_CHARS,
                    max_leaves: int = MAX_SCAN_LEAVES) -> Credential | None:
    """The first credential-like text in ``value`` (at most ``max_chars`` characters of
    ``max_leaves`` text leaves are read), or None."""
    scan = _Scan(max_chars, max_leaves)
    try:
        _walk(value, "", None, scan, 0)
        scan.flush()
    except _Found as found:
        return found.credential
    return None


def _walk(value: Any, where: str, under: str | None, scan: _Scan, depth: int) -> None:
    if type(value) in _SCALARS or scan.spent or depth > MAX_DEPTH:
        return
    text = _text_of(value)
    if text is not None:
        if under is not None and secret_name(under) is not None:
            scan.named(under, text, where, f"under {under!r:.40}")
        else:
            scan.add(text, _PLAIN, where)
        return
    if scan.containers <= 0:
        return
    scan.containers -= 1
    if isinstance(value, Mapping):
        _walk_mapping(value, where, scan, depth)
    elif isinstance(value, (list, tuple)):
        _walk_sequence(value, where, under, scan, depth)
    elif isinstance(value, (set, frozenset)):
        _walk_items(list(itertools.islice(value, max(0, scan.leaves))), where, under, scan,
                    depth)
    elif _is(value, "pandas", "DataFrame"):
        _walk_frame(value, where, scan, depth)
    elif _is(value, "pandas", "Series") or _is(value, "pandas", "Index"):
        name = getattr(value, "name", None)
        name = name if isinstance(name, str) else under
        head = value.iloc[:HEAD_ROWS] if hasattr(value, "iloc") else value[:HEAD_ROWS]
        _walk_column(head, where, name, scan, depth)  # what a rendering shows, first
        _walk_column(value, where, name, scan, depth)
        _walk_index(value, where, scan, depth)
    elif _is(value, "numpy", "ndarray") and value.dtype.kind in "USO":
        _walk_items(value.reshape(-1)[:scan.leaves].tolist(), where, under, scan, depth)


def _walk_mapping(value: Mapping[Any, Any], where: str, scan: _Scan, depth: int) -> None:
    pairs = list(itertools.islice(value.items(), max(0, scan.leaves)))
    keys = [key for key, _ in pairs if type(key) is str]
    scan.add_many(keys, keys, _PLAIN, f"{where} keys".strip())
    strings, nested = _split([item for _, item in pairs])
    texts = [pairs[i] for i in strings]
    hinted = _hinted([key if type(key) is str else "" for key, _ in texts])
    for i in hinted:
        key, item = texts[i]
        scan.named(key, item, _label(_KEY, where, key), f"under {key!r:.40}")
    if hinted:
        named = set(hinted)
        texts = [pair for i, pair in enumerate(texts) if i not in named]
    scan.add_many([item for _, item in texts], [key for key, _ in texts], _KEY, where)
    for key, item in (pairs[i] for i in nested):
        if scan.spent or scan.containers <= 0:
            return
        _walk(item, _label(_KEY, where, key), key if isinstance(key, str) else None,
              scan, depth + 1)


def _hinted(names: list[str]) -> list[int]:
    """Which of ``names`` may be a secret's name (one pass over them all: most dicts
    have none)."""
    if len(names) < 16:  # a small dict: name by name is cheaper
        return [i for i, name in enumerate(names) if secret_name(name) is not None]
    joined = "\n".join(names).lower()
    starts = list(itertools.accumulate((len(n) + 1 for n in names), initial=0))
    found: set[int] = set()
    for hint in _HINTS:
        at = joined.find(hint)
        while at != -1:
            i = bisect.bisect_right(starts, at) - 1
            found.add(i)
            at = joined.find(hint, starts[i + 1])  # the next name
    return sorted(i for i in found if secret_name(names[i]) is not None)


def _walk_sequence(value: list[Any] | tuple[Any, ...], where: str, under: str | None,
                   scan: _Scan, depth: int) -> None:
    items = value[:scan.leaves]
    # ("password", "hunter2"): a pair names its own second item.
    if len(items) == 2 and isinstance(items[0], str) and isinstance(items[1], str):
        scan.named(items[0], items[1], f"{where}[1]", f"paired with {items[0]!r:.40}")
    indices = _walk_items(items, where, under, scan, depth)
    _split_across(items, indices, where)


def _walk_items(items: list[Any] | tuple[Any, ...], where: str, under: str | None,
                scan: _Scan, depth: int) -> list[int]:
    """Items of a list, tuple, set or array: strings queued at once, containers walked;
    the indices of the strings."""
    indices, nested = _split(items)
    if under is not None and secret_name(under) is not None:  # judged by the name
        for i in indices:
            scan.named(under, items[i], f"{where}[{i}]", f"under {under!r:.40}")
    else:
        scan.add_many([items[i] for i in indices], indices, _ITEM, where)
    for i in nested:
        if scan.spent or scan.containers <= 0:
            break
        _walk(items[i], f"{where}[{i}]", under, scan, depth + 1)
    return indices


def _split_across(items: list[Any] | tuple[Any, ...], indices: list[int], where: str) -> None:
    """A key cut into adjacent string items (``["sk-proj-Ab3d", "Ef6hIj..."]``): each
    run of 2+ adjacent string items, joined, is one more text."""
    start = 0
    for k in range(1, len(indices) + 1):
        if k < len(indices) and indices[k] == indices[k - 1] + 1:
            continue
        first, last = indices[start], indices[k - 1]
        if last > first:
            found = _first("".join(items[first:last + 1]))
            if found is not None:
                raise _Found(Credential(found[0] + ", split across items",
                                        f"{where}[{first}:{last + 1}]", found[2]))
        start = k


class _Cells:
    """The label of the k-th cell of a frame block read row by row (made only for the
    cell found); with ``picked``, of the j-th of those cells."""

    def __init__(self, where: str, names: list[Any], rows: int,
                 picked: list[int] | None = None) -> None:
        self.where, self.names, self.rows, self.picked = where, names, rows, picked

    def __getitem__(self, k: int) -> str:
        if self.picked is not None:
            k = self.picked[k]
        row, column = divmod(k, len(self.names))
        return _at(self.where, f"column {self.names[column]!r:.40}, row {row}")


def _walk_frame(frame: Any, where: str, scan: _Scan, depth: int) -> None:
    columns = list(frame.columns[:max(0, scan.leaves)])
    names = [column for column in columns if type(column) is str]
    scan.add_many(names, names, _PLAIN, _at(where, "a column name"))
    kinds = [dtype.kind for dtype in frame.dtypes.iloc[:len(columns)]]
    texts = [i for i, kind in enumerate(kinds) if kind in "OSU"][:MAX_COLUMNS]
    if texts and not scan.spent:
        # One block of the text columns, read row by row: the first rows (what a
        # rendering shows) come first, whatever the budget. (A column at a time cost
        # ~0.3 ms each: 5,000 one-row columns took 0.7 s.)
        width = len(texts)
        rows = max(1, scan.leaves // width)
        block = frame.iloc[:rows, texts].to_numpy(dtype=object)
        rows = block.shape[0]
        cells = block.reshape(-1).tolist()
        shown = [columns[i] for i in texts]
        labels = _Cells(where, shown, rows)
        secret = {c for c, i in enumerate(texts)
                  if type(columns[i]) is str and secret_name(columns[i]) is not None}
        strings, nested = _split(cells)
        if secret:
            strings = [k for k in strings if k % width not in secret]
        scan.add_many([cells[k] for k in strings], _Cells(where, shown, rows, strings),
                      _LABEL, where)
        for c in secret:
            name = shown[c]
            for k in range(c, len(cells), width):
                if type(cells[k]) is str:
                    scan.named(name, cells[k], labels[k], f"in column {name!r:.40}")
        for k in nested:
            if scan.spent or scan.containers <= 0:
                break
            name = shown[k % width]
            _walk(cells[k], labels[k], name if type(name) is str else None, scan, depth + 1)
    _walk_index(frame, where, scan, depth)


def _walk_index(data: Any, where: str, scan: _Scan, depth: int) -> None:
    index = getattr(data, "index", None)
    if index is not None and index.dtype.kind in "OSU":
        _walk_items(index[:scan.leaves].tolist(), _at(where, "index"), None, scan, depth)


def _walk_column(column: Any, where: str, name: str | None, scan: _Scan, depth: int) -> None:
    """The text cells of one column (numbers and dates hold no text: skipped)."""
    if column.dtype.kind not in "OSU" or scan.spent:
        return
    head = column.iloc[:scan.leaves] if hasattr(column, "iloc") else column[:scan.leaves]
    cells = head.tolist()
    rows, nested = _split(cells)
    if name is not None and secret_name(name) is not None:
        why = f"in column {name!r:.40}"
        for row in rows:
            scan.named(name, cells[row], _label(_ROW, where, row), why)
    else:
        scan.add_many(cells if len(rows) == len(cells) else [cells[row] for row in rows],
                      rows, _ROW, where)
    for row in nested:  # objects in cells (dicts, lists, bytes)
        if scan.spent or scan.containers <= 0:
            return
        _walk(cells[row], _label(_ROW, where, row), name, scan, depth + 1)
