"""BM25 over one user's texts of one kind, held in memory as numpy postings.

A ``Partition`` is a frozen ``Base`` (compressed-sparse postings by term: the docs and
term counts of each term, built in one pass or loaded from a snapshot) plus what
changed since (``extra`` docs in Python dicts; base docs that died, as a mask). A query
adds ``idf x weight`` over each query term's postings into one array and keeps the top
k: the cost is the postings of the query's terms, never a scan of the whole index
(*measured*, CPU time, at 1M messages: 3-8 ms for a chat message against the 500k
exchanges; the SQL term index took 1.5-3 s). Each posting's weight,
``tf (k1+1) / (tf + k1 (1 - b + b L/avgdl))``, is computed when a partition is built
(a snapshot stores it) and again only when the mean length drifts 10 %; the idf comes
from the user's own document frequencies at query time.

Statistics are this partition's alone: a user's own texts of one kind. A base doc
that was edited or deleted stays in its term's document frequency until the next
compaction (a negligible drift: edits are rare); its postings never score.

``L = max(length, LENGTH_FLOOR x avgdl)``: BM25's length normalisation favours short
texts, and a two-word reply that repeats a name ("Go get 'em, Jon!") outranked the
message that held the answer; below the floor a text gets no more boost (a long text is
still normalised down as in plain BM25).
"""

from __future__ import annotations

import io
import json
import math
import zlib
from collections import Counter, OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import numpy as np
else:  # numpy at its first use (lazy_numpy.py): a first turn needs none
    from . import lazy_numpy as np

K1 = 1.2
B = 0.75
# In a partition that allows it (``dense_share``: recall's exchanges, searched at every
# turn), a term in more than that share of the docs is added as a dense vector of its
# weights (kept, without its idf, until the weights change) instead of through its
# postings: adding 500k contiguous floats costs ~0.3 ms where scattering a common word's
# 430k postings cost ~3 ms (at 1M messages a chat message's common words were ~8 of the
# query's ~13 ms; now ~5 ms, the same scores). Kept within DENSE_BYTES per partition,
# least recently used first out (at 1M messages: 16 words). ``search()``'s messages keep
# the stopwords' postings: there only words in more than DENSE_SHARE_MESSAGES of the
# docs (the commonest stopwords, in most queries) are vectors; at a tenth, a hundred
# words of 4 MB each were made and dropped in turn (search p50 19 -> 30 ms), at 0.3 the
# messages' top-k at 1M went from 9.9 / 20.2 ms (p50 / p95) to 5.6-6.0 / 12.9-17.0.
DENSE_SHARE = 0.1
DENSE_SHARE_MESSAGES = 0.3
DENSE_BYTES = 32 << 20
# A text shorter than the mean is scored as if of the mean length: BM25's boost of short
# texts is what let a reply that only repeats a name outrank the answer (issue 16). To
# be tuned on the labelled retrieval set (bench/bench_quality.py).
LENGTH_FLOOR = 1.0
FORMAT = 2  # of a serialised Base: a different one is rebuilt, never misread


class Strings:
    """A list of strings as one UTF-8 blob and offsets: a million ids without a million
    Python objects."""

    def __init__(self, blob: bytes | memoryview | np.ndarray, offsets: np.ndarray) -> None:
        self.blob = memoryview(blob).cast("B")  # a mapped snapshot file is not copied
        self.offsets = offsets  # int64, len + 1

    @classmethod
    def of(cls, items: Iterable[str]) -> Strings:
        encoded = [s.encode() for s in items]
        offsets = np.zeros(len(encoded) + 1, np.int64)
        if encoded:
            np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(b"".join(encoded), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> str:
        return bytes(self.blob[self.offsets[i]:self.offsets[i + 1]]).decode()

    def as_list(self) -> list[str]:
        if not len(self):
            return []
        bounds = self.offsets.tolist()
        blob = bytes(self.blob)
        return [blob[a:b].decode() for a, b in zip(bounds, bounds[1:])]


def id_hash(doc_id: str) -> int:
    return zlib.crc32(doc_id.encode())


@dataclass
class Base:
    """The frozen part of a partition: docs (numbered 0..n-1) and postings by term."""

    ids: Strings
    sess: np.ndarray  # int32: each doc's session, an index into ``sessions``
    length: np.ndarray  # int32: each doc's number of terms
    sessions: list[str]
    vocab: list[str]
    ptr: np.ndarray  # int64, len(vocab) + 1: term t's postings are ptr[t]:ptr[t+1]
    pdoc: np.ndarray  # int32
    ptf: np.ndarray  # uint16
    hkeys: np.ndarray  # uint32: the ids' crc32, sorted (id -> doc number)
    hdocs: np.ndarray  # int32: the doc of each hkey
    # Each posting's weight as a snapshot stored it, and for what (k1, b, floor, avgdl):
    # a load that agrees uses them as they are (no pass over every posting).
    pw: np.ndarray | None = None
    w_params: tuple[float, float, float, float] | None = None

    @classmethod
    def empty(cls) -> Base:
        return build_base([], [], np.zeros(0, np.int32), [], np.zeros(0, np.int32),
                          np.zeros(0, np.int32))

    def find(self, doc_id: str) -> int:
        """The doc number of ``doc_id``, -1 when it is not in the base."""
        h = np.uint32(id_hash(doc_id))
        lo = int(np.searchsorted(self.hkeys, h, "left"))
        hi = int(np.searchsorted(self.hkeys, h, "right"))
        for d in self.hdocs[lo:hi].tolist():
            if self.ids[d] == doc_id:
                return d
        return -1

    # --- serialised -----------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        vocab, sessions = Strings.of(self.vocab), Strings.of(self.sessions)
        arrays = {
            "ids_blob": np.frombuffer(self.ids.blob, np.uint8), "ids_off": self.ids.offsets,
            "sess": self.sess, "length": self.length,
            "sessions_blob": np.frombuffer(sessions.blob, np.uint8),
            "sessions_off": sessions.offsets,
            "vocab_blob": np.frombuffer(vocab.blob, np.uint8), "vocab_off": vocab.offsets,
            "ptr": self.ptr, "pdoc": self.pdoc, "ptf": self.ptf,
            "hkeys": self.hkeys, "hdocs": self.hdocs,
        }
        if self.pw is not None:
            arrays["pw"] = self.pw
        return arrays

    def write(self, out: BinaryIO, meta: dict) -> None:
        """The base, serialised: a JSON header, then each array 8-aligned (so a mapped
        file is read in place)."""
        arrays = self._arrays()
        layout, at = [], 0
        for name, array in arrays.items():
            layout.append([name, array.dtype.str, at, array.nbytes])
            at += array.nbytes + (-array.nbytes % 8)
        meta = {**meta, "w_params": self.w_params}
        header = json.dumps({"format": FORMAT, "meta": meta, "arrays": layout}).encode()
        header += b" " * (-len(header) % 8)
        out.write(len(header).to_bytes(8, "little") + header)
        for array in arrays.values():
            out.write(memoryview(np.ascontiguousarray(array)).cast("B"))
            out.write(b"\0" * (-array.nbytes % 8))

    def to_bytes(self, meta: dict) -> bytes:
        out = io.BytesIO()
        self.write(out, meta)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes | memoryview | Any) -> tuple[Base, dict] | None:
        """The base and its meta, its arrays over ``data`` (bytes, or a mapped file: not
        copied); None for another format."""
        view = memoryview(data).cast("B")
        size = int.from_bytes(view[:8], "little")
        header = json.loads(bytes(view[8:8 + size]))
        if header.get("format") != FORMAT:
            return None
        start = 8 + size
        a = {name: np.frombuffer(view, np.dtype(dtype), count=n // np.dtype(dtype).itemsize,
                                 offset=start + at)
             for name, dtype, at, n in header["arrays"]}
        meta = header["meta"]
        base = cls(
            ids=Strings(a["ids_blob"], a["ids_off"]), sess=a["sess"], length=a["length"],
            sessions=Strings(a["sessions_blob"], a["sessions_off"]).as_list(),
            vocab=Strings(a["vocab_blob"], a["vocab_off"]).as_list(),
            ptr=a["ptr"], pdoc=a["pdoc"], ptf=a["ptf"], hkeys=a["hkeys"], hdocs=a["hdocs"],
            pw=a.get("pw"), w_params=tuple(meta["w_params"]) if meta.get("w_params") else None)
        return base, meta


def build_base(ids: Sequence[str], sessions: list[str], sess: np.ndarray,
               vocab: Sequence[str], tok_doc: np.ndarray, tok_term: np.ndarray,
               tf: np.ndarray | None = None, length: np.ndarray | None = None) -> Base:
    """A base from its docs and their tokens: ``tok_doc[i]`` holds ``tok_term[i]``
    (an index into ``vocab``) ``tf[i]`` times (once each when ``tf`` is None: repeats
    are counted here). Terms without postings are left out of the vocabulary. ``length``:
    each doc's length (else its number of tokens)."""
    n, v = len(ids), len(vocab)
    tok_doc = np.asarray(tok_doc, np.int64)
    tok_term = np.asarray(tok_term, np.int64)
    if tf is None:  # (doc, term) pairs with their counts
        key, counts = np.unique(tok_doc * max(v, 1) + tok_term, return_counts=True)
        doc, term = key // max(v, 1), key % max(v, 1)
    else:
        doc, term, counts = tok_doc, tok_term, np.asarray(tf, np.int64)
    if length is None:
        length = np.bincount(doc, weights=counts, minlength=n).astype(np.int32) if n else \
            np.zeros(0, np.int32)
    per_term = np.bincount(term, minlength=v) if v else np.zeros(0, np.int64)
    keep = per_term > 0
    new_term = np.cumsum(keep) - 1
    order = np.lexsort((doc, term))  # by term, then doc
    term_sorted = new_term[term[order]] if len(order) else np.zeros(0, np.int64)
    kept_vocab = [t for t, k in zip(vocab, keep.tolist()) if k]
    ptr = np.zeros(len(kept_vocab) + 1, np.int64)
    if len(kept_vocab):
        np.cumsum(np.bincount(term_sorted, minlength=len(kept_vocab)), out=ptr[1:])
    strings = ids if isinstance(ids, Strings) else Strings.of(ids)
    hashes = np.fromiter((id_hash(i) for i in (ids.as_list() if isinstance(ids, Strings)
                                                else ids)), np.uint32, count=n)
    horder = np.argsort(hashes, kind="stable")
    return Base(ids=strings, sess=np.asarray(sess, np.int32),
                length=np.asarray(length, np.int32),
                sessions=list(sessions), vocab=kept_vocab, ptr=ptr,
                pdoc=doc[order].astype(np.int32),
                ptf=np.minimum(counts[order], 65535).astype(np.uint16),
                hkeys=hashes[horder], hdocs=horder.astype(np.int32))


class Partition:
    """One user's texts of one kind: a base, what changed since, and BM25 top-k."""

    def __init__(self, base: Base, rev: int, floor: float | None = None,
                 k1: float | None = None, b: float | None = None, seq: int = 0) -> None:
        self.base = base
        self.rev = rev  # the user's index revision this partition includes
        self.seq = seq  # and the last numbered run (runs.search_seq, sql/term_index.py)
        self.checked: object = None  # the engine's stamp when it was last found current
        # The module's constants as they are now (a quality bench may set them first).
        self.k1 = K1 if k1 is None else k1
        self.b = B if b is None else b
        self.floor = LENGTH_FLOOR if floor is None else floor
        self.term_id = {t: i for i, t in enumerate(base.vocab)}
        self.sessions = list(base.sessions)
        self.session_code = {s: i for i, s in enumerate(self.sessions)}
        n = len(base.ids)
        self.dead = np.zeros(n, bool)
        self.dead_idx: np.ndarray | None = np.zeros(0, np.int64)
        self.n_live = n
        self.sum_len = int(base.length.sum())
        # Docs added since the base: number j, with their terms (None once removed).
        self.x_ids: list[str] = []
        self.x_index: dict[str, int] = {}
        self.x_sess: list[int] = []
        self.x_len: list[int] = []
        self.x_terms: list[Counter[str] | None] = []
        self.x_post: dict[str, dict[int, int]] = {}
        self.x_df: Counter[str] = Counter()
        self.x_live = 0
        self._dense: OrderedDict[int, np.ndarray] = OrderedDict()  # term id: weights
        self.dense_share: float | None = None  # None: every term by its postings
        self._weights()

    # --- statistics -------------------------------------------------------------
    @property
    def avgdl(self) -> float:
        return self.sum_len / self.n_live if self.n_live else 1.0

    def _norm(self, length: np.ndarray, avgdl: float) -> np.ndarray:
        floor = self.floor * avgdl
        return self.k1 * (1 - self.b + self.b * np.maximum(length, floor) / avgdl)

    def _weight(self, tf: int, length: int, avgdl: float) -> float:
        norm = self.k1 * (1 - self.b + self.b * max(length, self.floor * avgdl) / avgdl)
        return tf * (self.k1 + 1) / (tf + norm)

    def _weights(self) -> None:
        """Each base posting's BM25 weight without idf, for the current mean length (the
        snapshot's own when it was stored for these parameters and about this length)."""
        stored = self.base.w_params
        if self.base.pw is not None and stored is not None and stored[:3] == (
                self.k1, self.b, self.floor) and abs(stored[3] - self.avgdl) <= 0.1 * stored[3]:
            self.w_avgdl, self.pw = stored[3], self.base.pw
            self._dense.clear()
            return
        self._dense.clear()
        self.w_avgdl = max(self.avgdl, 1e-9)
        tf = self.base.ptf.astype(np.float32)
        norm = self._norm(self.base.length[self.base.pdoc].astype(np.float32), self.w_avgdl)
        self.pw = (tf * (self.k1 + 1) / (tf + norm)).astype(np.float32)

    def frozen(self) -> Base:
        """One base of every live doc, with its weights (what a snapshot stores)."""
        base = self.compacted()
        fresh = Partition(base, self.rev, self.floor, self.k1, self.b)
        base.pw, base.w_params = fresh.pw, (self.k1, self.b, self.floor, fresh.w_avgdl)
        return base

    def __len__(self) -> int:
        return self.n_live

    @property
    def extra_docs(self) -> int:
        return self.x_live

    # --- changes ----------------------------------------------------------------
    def _code(self, session_id: str | None) -> int:
        key = session_id or ""
        code = self.session_code.get(key)
        if code is None:
            code = self.session_code[key] = len(self.sessions)
            self.sessions.append(key)
        return code

    def remove(self, doc_id: str) -> None:
        j = self.x_index.pop(doc_id, None)
        if j is not None:
            terms = self.x_terms[j]
            if terms is not None:
                for term in terms:
                    self.x_post[term].pop(j, None)
                    self.x_df[term] -= 1
                self.x_terms[j] = None
                self.n_live -= 1
                self.sum_len -= self.x_len[j]
                self.x_live -= 1
            return
        d = self.base.find(doc_id)
        if d >= 0 and not self.dead[d]:
            self.dead[d] = True
            self.dead_idx = None  # found again at the next query (a purge removes many)
            self.n_live -= 1
            self.sum_len -= int(self.base.length[d])

    def upsert(self, doc_id: str, session_id: str | None, terms: Sequence[str],
               length: int | None = None) -> None:
        """``doc_id`` holds ``terms`` now (added, or replacing what it held); ``length``:
        its length for BM25 (else its number of terms)."""
        self.remove(doc_id)
        if not terms:
            return
        counts = Counter(terms)
        j = len(self.x_ids)
        self.x_ids.append(doc_id)
        self.x_index[doc_id] = j
        self.x_sess.append(self._code(session_id))
        self.x_len.append(sum(counts.values()) if length is None else length)
        self.x_terms.append(counts)
        for term, tf in counts.items():
            self.x_post.setdefault(term, {})[j] = tf
            self.x_df[term] += 1
        self.n_live += 1
        self.sum_len += self.x_len[j]
        self.x_live += 1

    # --- the query --------------------------------------------------------------
    def top(self, terms: Sequence[str], k: int,
            session_id: str | None = None) -> list[tuple[str, float]]:
        """The ``k`` best (doc id, score) for the query ``terms``, best first (ties in
        the order the docs were indexed); only docs that hold a query term, of
        ``session_id`` when given.

        Every posting of every query term is added up (*measured*, CPU time, at 1M
        messages: 3-8 ms for a chat message against the 500k exchanges; MaxScore, the
        common words looked up only for the docs the rare ones found, was slower here:
        7-24 ms, its lookups and fallbacks costing more than the adds they saved)."""
        if not self.n_live or k <= 0:
            return []
        avgdl = self.avgdl
        if abs(avgdl - self.w_avgdl) > 0.1 * self.w_avgdl:
            self._weights()
        base, n = self.base, self.n_live
        scores = np.zeros(len(base.ids), np.float32)
        extra: dict[int, float] = {}
        for term in dict.fromkeys(terms):
            tid = self.term_id.get(term)
            base_df = int(base.ptr[tid + 1] - base.ptr[tid]) if tid is not None else 0
            df = base_df + self.x_df.get(term, 0)
            if df <= 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            if self.dense_share is not None and base_df > self.dense_share * scores.size:
                scores += np.float32(idf) * self._dense_weights(tid)
            elif base_df:
                start, end = base.ptr[tid], base.ptr[tid + 1]
                scores[base.pdoc[start:end]] += np.float32(idf) * self.pw[start:end]
            for j, tf in self.x_post.get(term, {}).items():
                extra[j] = extra.get(j, 0.0) + idf * self._weight(tf, self.x_len[j], avgdl)
        if self.dead_idx is None:
            self.dead_idx = np.flatnonzero(self.dead)
        if self.dead_idx.size:
            scores[self.dead_idx] = 0
        code = None
        if session_id is not None:
            code = self.session_code.get(session_id, -1)
            scores[base.sess != code] = 0
        # The k best, ties in doc order. When a common word put most docs in the running,
        # the k-th score is found on the whole array (picking them out first cost ~3.6
        # ms a query at 500k exchanges, against ~0.9 ms); else among those that scored
        # (a whole array of mostly zeros partitions slowly: ~3.3 ms at 1M messages).
        scored = int(np.count_nonzero(scores))
        if scored > k and scored * 4 > scores.size:
            kth = np.partition(scores, scores.size - k)[scores.size - k]  # > 0: scored > k
            found = np.flatnonzero(scores >= kth)
        else:
            found = np.flatnonzero(scores)
            if found.size > k:
                kth = np.partition(scores[found], -k)[-k]
                found = found[scores[found] >= kth]
        if found.size > k:
            found = found[np.lexsort((found, -scores[found]))[:k]]
        hits = [(base.ids[int(d)], float(scores[d]), 0, int(d)) for d in found]
        hits += [(self.x_ids[j], s, 1, j) for j, s in extra.items()
                 if code is None or self.x_sess[j] == code]
        hits.sort(key=lambda h: (-h[1], h[2], h[3]))
        return [(doc_id, score) for doc_id, score, _, _ in hits[:k]]

    def _dense_weights(self, tid: int) -> np.ndarray:
        """Term ``tid``'s weight in every base doc (0 where it is absent): the same sums
        as its postings give, in the same order."""
        found = self._dense.get(tid)
        if found is not None:
            self._dense.move_to_end(tid)
            return found
        start, end = self.base.ptr[tid], self.base.ptr[tid + 1]
        found = np.zeros(len(self.base.ids), np.float32)
        found[self.base.pdoc[start:end]] = self.pw[start:end]
        self._dense[tid] = found
        while len(self._dense) > max(1, DENSE_BYTES // max(found.nbytes, 1)):
            self._dense.popitem(last=False)
        return found

    # --- a new base -------------------------------------------------------------
    def compacted(self) -> Base:
        """One base of every live doc (dead postings and unused terms dropped): what a
        snapshot holds, so a purged text's terms leave with it."""
        base = self.base
        live = ~self.dead
        new_doc = np.cumsum(live) - 1
        n_base = int(live.sum())
        post_term = np.repeat(np.arange(len(base.vocab), dtype=np.int64), np.diff(base.ptr))
        keep = live[base.pdoc] if len(base.pdoc) else np.zeros(0, bool)
        vocab = list(base.vocab)
        term_id = dict(self.term_id)
        x_docs = [j for j, t in enumerate(self.x_terms) if t is not None]
        x_term, x_doc, x_tf = [], [], []
        for new, j in enumerate(x_docs, start=n_base):
            for term, tf in self.x_terms[j].items():  # type: ignore[union-attr]
                tid = term_id.get(term)
                if tid is None:
                    tid = term_id[term] = len(vocab)
                    vocab.append(term)
                x_term.append(tid)
                x_doc.append(new)
                x_tf.append(tf)
        ids = [i for i, alive in zip(base.ids.as_list(), live.tolist()) if alive]
        ids += [self.x_ids[j] for j in x_docs]
        sessions = self.sessions
        sess = np.concatenate([base.sess[live], np.asarray([self.x_sess[j] for j in x_docs],
                                                           np.int32)])
        length = np.concatenate([base.length[live], np.asarray([self.x_len[j] for j in x_docs],
                                                               np.int32)])
        return build_base(
            ids, sessions, sess, vocab,
            np.concatenate([new_doc[base.pdoc[keep]], np.asarray(x_doc, np.int64)]),
            np.concatenate([post_term[keep], np.asarray(x_term, np.int64)]),
            tf=np.concatenate([base.ptf[keep].astype(np.int64), np.asarray(x_tf, np.int64)]),
            length=length)
