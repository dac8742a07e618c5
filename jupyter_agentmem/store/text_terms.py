"""How a text becomes search terms: lower-cased words, stopwords out, Snowball stems.

English by default: ``donated`` meets ``donate`` and ``interviews`` meets ``interview``
(Snowball's English stemmer, through PyStemmer: its C stemmers, ~0.3 us a word), and the
commonest words (NLTK's English stopword list, the one bm25s and most BM25 baselines use)
never lengthen a text and are not looked for beside other words, so a short reply of
common words and a name does not outrank the message that holds the answer. A search of
messages still finds one where it is meant (``query_terms(stop=True)``): alone, in a
quoted phrase, or written as a name ("Will"): the messages partition keeps their
postings; recall and memories never look for them.

The language is a setting of the database's search (``AGENTMEM_SEARCH_LANGUAGE``, or
``Store.set_search_language``): any of PyStemmer's languages stems in that language (the
stopword list is English only, so another language keeps every word), and ``none`` turns
both off (every word, lower-cased, as written). The index records which analyzer built
it: a different setting rebuilds it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

INDEXED_CHARS = 100_000  # a longer text is searchable by its first 100,000 characters
MAX_TERM_CHARS = 64  # longer "words" (base64, hashes) are not worth a posting
LANGUAGE_VARIABLE = "AGENTMEM_SEARCH_LANGUAGE"
DEFAULT_LANGUAGE = "english"
OFF = ("none", "off", "")
WORD = re.compile(r"\w+")
_WORD_OR_TEXT_END = re.compile(r"\w+|\0")  # bulk(): texts joined by NUL
PHRASE = re.compile(r'"([^"]+)"')  # a quoted phrase in a query
# Part of the analyzer's name in a snapshot: 2 since stopwords have postings in the
# messages partition (a snapshot of another version is rebuilt).
INDEX_VERSION = 2
BULK_BATCH = 50_000  # texts split at once by bulk() (bounded memory: ~60 MB of words)

# NLTK's English stopwords (179): what "don't", "isn't", "we'll" split into is here too.
ENGLISH_STOPWORDS = frozenset("""
i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself
yourselves he him his himself she she's her hers herself it it's its itself they them their
theirs themselves what which who whom this that that'll these those am is are was were be
been being have has had having do does did doing a an the and but if or because as until
while of at by for with about against between into through during before after above below
to from up down in out on off over under again further then once here there when where why
how all any both each few more most other some such no nor not only own same so than too
very s t can will just don don't should should've now d ll m o re ve y ain aren aren't
couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't
ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't
weren weren't won won't wouldn wouldn't
""".split())


def language_setting(value: str | None = None) -> str | None:
    """The search language: ``value``, else the environment's, else English; None: off.

    ``ValueError`` naming the languages there are for an unknown one."""
    chosen = os.environ.get(LANGUAGE_VARIABLE, DEFAULT_LANGUAGE) if value is None else value
    chosen = chosen.strip().lower()
    if chosen in OFF:
        return None
    import Stemmer

    if chosen not in Stemmer.algorithms():
        raise ValueError(f"no stemmer for the search language {chosen!r}: use one of "
                         f"{', '.join(Stemmer.algorithms())}, or 'none' for plain words")
    return chosen


class Analyzer:
    """Turns texts into index terms, the same way for what is stored and what is asked."""

    def __init__(self, language: str | None = DEFAULT_LANGUAGE) -> None:
        self.language = language
        if language is None:
            self._stem = None
            self.stopwords: frozenset[str] = frozenset()
        else:
            import Stemmer

            self._stem = Stemmer.Stemmer(language, 100_000)  # its own cache of stems
            self.stopwords = ENGLISH_STOPWORDS if language in ("english", "porter") \
                else frozenset()

    @property
    def name(self) -> str:
        """What the index records: a different name means a different index."""
        return f"{self.language or 'none'}.{INDEX_VERSION}"

    def words(self, text: str | None, stop: bool = False) -> list[str]:
        """The lower-cased words of ``text`` that are indexed, in order; stopwords only
        when ``stop``."""
        if not text:
            return []
        drop = frozenset() if stop else self.stopwords
        return [w for w in WORD.findall(text[:INDEXED_CHARS].lower())
                if len(w) <= MAX_TERM_CHARS and w not in drop]

    def stems(self, words: Sequence[str]) -> list[str]:
        return list(words) if self._stem is None else self._stem.stemWords(words)

    def terms(self, text: str | None, stop: bool = False) -> list[str]:
        """The index terms of ``text``, in order (repeats kept); stopwords' only when
        ``stop`` (the messages partition keeps them, for a search of one)."""
        return self.stems(self.words(text, stop))

    def text_terms(self, text: str | None) -> tuple[list[str], int]:
        """Every term of ``text`` (stopwords' too) and its length: the words that are
        not stopwords (a text's length for BM25 never counts them)."""
        words = self.words(text, stop=True)
        return self.stems(words), sum(w not in self.stopwords for w in words)

    def query_terms(self, text: str | None, limit: int = 32, stop: bool = False) -> list[str]:
        """The distinct terms of a query, at most ``limit`` (the first ones).

        With ``stop`` (a search of messages, whose index holds stopwords): a stopword is
        kept where it is meant, inside a quoted phrase or written capitalised after a
        sentence's first word (a name: "Will", "Don"); a query of stopwords alone
        keeps them all ("to be or not to be")."""
        if not text:
            return []
        if not stop or not self.stopwords:
            return list(dict.fromkeys(self.terms(text)))[:limit]
        text = text[:INDEXED_CHARS]
        quoted = [m.span() for m in PHRASE.finditer(text)]
        kept, every = [], []
        for match in WORD.finditer(text):
            word = match.group()
            lower = word.lower()
            if len(lower) > MAX_TERM_CHARS:
                continue
            every.append(lower)
            before = text[:match.start()].rstrip()
            name = word[0].isupper() and bool(before) and before[-1] not in ".!?\"'"
            inside = any(a < match.start() < b for a, b in quoted)
            if lower not in self.stopwords or name or inside:
                kept.append(lower)
        return list(dict.fromkeys(self.stems(kept or every)))[:limit]

    def bulk(self, texts: Sequence[str | None], stop: bool = False) -> Tokens:
        """The terms of many texts at once (stopwords' only when ``stop``). Texts are
        split a batch at a time (one regex pass over the batch joined by NUL, which no
        stored text holds), words numbered by pandas' hash table, and each distinct word
        stemmed once: ~3 s for 1M chat messages instead of ~15 s text by text."""
        import numpy as np
        import pandas as pd

        word_id: dict[str, int] = {}
        doc_parts, word_parts = [], []
        for start in range(0, len(texts), BULK_BATCH):
            batch = texts[start:start + BULK_BATCH]
            joined = "\0".join((t or "")[:INDEXED_CHARS] for t in batch).lower()
            tokens = np.array(_WORD_OR_TEXT_END.findall(joined), dtype=object)
            codes, uniques = pd.factorize(tokens)
            # (``"\0" in uniques`` is False on numpy's object array: compared in Python)
            end = next((i for i, w in enumerate(uniques.tolist()) if w == "\0"), -1)
            ends = codes == end
            docs = np.cumsum(ends) + start
            to_global = np.fromiter((word_id.setdefault(w, len(word_id)) for w in uniques),
                                    np.int64, count=len(uniques))
            kept = ~ends
            doc_parts.append(docs[kept])
            word_parts.append(to_global[codes[kept]])
        words = list(word_id)
        stems = self.stems(words)
        term_id: dict[str, int] = {}
        to_term = np.full(len(words) + 1, -1, np.int64)
        content = np.zeros(len(words) + 1, bool)
        for i, (word, stem) in enumerate(zip(words, stems)):
            if word == "\0" or len(word) > MAX_TERM_CHARS:
                continue
            content[i] = word not in self.stopwords
            if stop or content[i]:
                to_term[i] = term_id.setdefault(stem, len(term_id))
        docs = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int64)
        flat = np.concatenate(word_parts) if word_parts else np.zeros(0, np.int64)
        tokens = to_term[flat]
        kept = tokens >= 0
        lengths = np.bincount(docs[content[flat]], minlength=len(texts)).astype(np.int32)
        return Tokens(docs[kept], tokens[kept], list(term_id), content[flat][kept], lengths)


class Tokens(NamedTuple):
    """What ``Analyzer.bulk`` found: each token's text and term, the terms, whether each
    token is a content word (not a stopword), and each text's length (its content
    words)."""

    docs: Any
    terms: Any
    vocab: list[str]
    content: Any
    lengths: Any
