"""Recall (``recall=N``): the earlier exchanges of the same user most relevant to a message.

An exchange is a run's user message and the assistant's reply. The candidates are the
user's other sessions and the runs of this session outside the history window, ranked
by BM25 with each exchange as one text (``Store.search_ids(..., "exchanges")``: the
user's own statistics, stems, stopwords) and the new message as the query.

Privacy: only sessions whose owner is exactly the run's user are read (the search is
scoped to that user's index, and ``Store.user_runs`` checks the owner again in SQL). A run
without ``user=`` is the user ``default``'s, so it recalls only ``default``'s sessions;
a session that nobody owns (stored before users were recorded) is never recalled: it
could be anyone's.

The prompt part is built by concatenation, never ``str.format``: the text is the user's;
a ``<recalled>`` / ``<exchange>`` tag in it is defused (``types.without_prompt_tags``):
an old message cannot end the marked block and speak as if outside it. The session id
(any text but control characters) goes into an attribute escaped (``attribute``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import NamedTuple

from ..store import Store
from ..types import RecalledRun, Run, without_prompt_tags

MAX_RECALL = 20  # recall=N: 20 exchanges of at most ~2 x 800 characters is ~8k tokens
# A recalled exchange is a reminder, not a transcript: each of its two messages is cut to
# 800 characters (~200 tokens), so recall=3 adds at most ~1,300 tokens however long the
# old messages were (a reply with a page of code would otherwise fill the window).
RECALL_CHARS = 800
# The runs read first: the n best and a few more (a run may be superseded, failed, or of
# the re-run cell); the other candidates only when those are not enough.
SPARE_RUNS = 4
_WORD = re.compile(r"\w+")  # as the search index splits words (store/sql/term_index.py)
HEADER = ("Earlier exchanges you may recall (from other sessions of this user, or from "
          "earlier in this one). They are past conversations, not part of this one: use "
          "them only where they help.")


class Exchange(NamedTuple):
    """A recalled exchange: where it came from, and its two messages as the prompt has them."""

    session_id: str
    run_id: str
    seq: int | None
    when: str  # the run's date, YYYY-MM-DD
    user: str
    reply: str

    def ref(self) -> RecalledRun:
        return RecalledRun(session_id=self.session_id, run_id=self.run_id, seq=self.seq)


def check_recall(value: object, name: str = "recall") -> int:
    """``value`` as a number of exchanges to recall, or ``ValueError`` saying what is valid."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RECALL:
        raise ValueError(f"{name} must be a whole number of earlier exchanges from 0 (off) "
                         f"to {MAX_RECALL}, not {value!r:.40}.")
    return value


def excerpt(text: str, terms: Sequence[str], limit: int = RECALL_CHARS) -> str:
    """``text`` whole when short; else ``limit`` characters around the first query term
    found (the start when none is), marked as cut."""
    if len(text) <= limit:
        return text
    lowered = text.lower()
    found = [i for i in (lowered.find(t) for t in terms if t) if i >= 0]
    start = max(0, min(found) - limit // 4) if found else 0
    start = min(start, len(text) - limit)
    return (("[…] " if start else "") + text[start:start + limit]
            + (" […]" if start + limit < len(text) else ""))


def _exchange(run: Run, terms: Sequence[str]) -> Exchange | None:
    user = next((m for m in run.messages if m.role == "user" and m.content), None)
    reply = next((m for m in reversed(run.messages)
                  if m.role == "assistant" and m.content), None)
    if user is None or reply is None:
        return None
    return Exchange(run.session_id, run.run_id, run.seq, run.created_at.strftime("%Y-%m-%d"),
                    excerpt(user.content or "", terms), excerpt(reply.content or "", terms))


def recall_exchanges(store: Store, user_id: str, text: str | None, n: int,
                     exclude: Collection[str] = (),
                     skip_cell: tuple[str, str] | None = None) -> list[Exchange]:
    """The ``n`` exchanges of ``user_id`` most relevant to ``text``, best first.

    ``exclude``: run ids already in the prompt (the history window). ``skip_cell``:
    (session, cell id) whose earlier run this one replaces (a re-run cell).
    """
    if n <= 0 or not text or not text.strip():
        return []
    # An exchange (the run's user message and reply, one text) is ranked as a whole; the
    # excluded runs may rank first; some are no longer live: ask for enough, bounded.
    limit = min(10_000, n + len(exclude) + 4 * n + 16)
    store = store.as_user(user_id)
    ranked = [run_id for run_id, _ in store.search_ids(text, "exchanges", limit)
              if run_id not in exclude]
    # Where to cut a long message: around the first of the message's words (the first
    # 32 of 3+ letters, as the search uses at most 32 terms) that it holds.
    terms = [t for t in dict.fromkeys(_WORD.findall(text[:10_000].lower())) if len(t) > 2][:32]
    picked: list[Exchange] = []
    left = ranked[:4 * n + 16]
    while left and len(picked) < n:  # most often the first page is enough
        page, wanted = left[:n + SPARE_RUNS], n - len(picked)
        runs = store.user_runs(page, limit=wanted, skip_cell=skip_cell)
        picked += [e for e in (_exchange(run, terms) for run in runs) if e is not None]
        # Those of the page after the last run read may still be live: asked next.
        left = left[page.index(runs[-1].run_id) + 1:] if len(runs) == wanted else left[len(page):]
    return picked[:n]


def attribute(value: str) -> str:
    """``value`` as a tag's attribute holds it: a quote or a tag in a session id cannot
    end the attribute or the tag."""
    return (value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def recalled_prompt(exchanges: Sequence[Exchange]) -> str:
    """The delimited part of the system message that carries the recalled exchanges."""
    blocks = [
        "<exchange session=\"" + attribute(e.session_id) + "\" run=\"" + str(e.seq)
        + "\" date=\"" + e.when + "\">\nUser: " + without_prompt_tags(e.user)
        + "\nAssistant: " + without_prompt_tags(e.reply) + "\n</exchange>"
        for e in exchanges]
    return HEADER + "\n<recalled>\n" + "\n".join(blocks) + "\n</recalled>"
