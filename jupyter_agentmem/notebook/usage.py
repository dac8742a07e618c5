"""``%agent usage``: one user's model calls (chat, memory, summary), their sums by session,
model, day or kind, and what they cost where the model's price is known
(``model/prices.py``, a user's prices first)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..model.prices import PRICES_AS_OF, Price, price_of
from . import display_values as shown
from .frames import Column, ShownFrame, table

USAGE_COLUMNS = ["created_at", "kind", "model", "session_id", "user_id", "run_id",
                 "input_tokens", "output_tokens", "latency_ms", "ok"]

LEDGER_COLUMNS = (
    Column("created_at", "time", "time"),
    Column("kind", "kind", "word"),
    Column("model", "model", "word"),
    Column("session_id", "session", "session"),
    Column("input_tokens", "tokens in", "whole"),
    Column("output_tokens", "tokens out", "whole"),
    Column("latency_ms", "latency ms", "whole"),
    Column("cost_usd", "cost", "money", optional=True),
    Column("ok", "status", "flag"),
    Column("run_id", "run", "id"),
)
SUM_COLUMNS = (
    Column("calls", "calls", "whole"),
    Column("input_tokens", "tokens in", "whole"),
    Column("output_tokens", "tokens out", "whole"),
    Column("tokens", "tokens", "whole"),
    Column("latency_ms", "latency ms (total)", "whole"),
    Column("cost_usd", "cost", "money", optional=True),
)
BY_LABEL = {"session_id": "session", "model": "model", "day": "day", "kind": "kind"}


def ledger(rows: list[dict[str, Any]], prices: Mapping[str, Price] | None) -> pd.DataFrame:
    """Every call, oldest first, with ``cost_usd`` (NaN where the price is unknown)."""
    frame = pd.DataFrame(rows, columns=USAGE_COLUMNS)
    # One price look-up per model, then whole columns (a ledger can hold 100,000 calls).
    known = {m: price_of(m, prices) for m in frame["model"].dropna().unique()}
    per_input = frame["model"].map(lambda m: (known.get(m) or (float("nan"),) * 2)[0])
    per_output = frame["model"].map(lambda m: (known.get(m) or (float("nan"),) * 2)[1])
    inputs = pd.to_numeric(frame["input_tokens"], errors="coerce").astype("float64")
    outputs = pd.to_numeric(frame["output_tokens"], errors="coerce").astype("float64")
    spent = (inputs.fillna(0) * per_input + outputs.fillna(0) * per_output) / 1_000_000
    # A call that reported no tokens (failed, interrupted) is not known to be free.
    frame["cost_usd"] = spent.where(inputs.notna() | outputs.notna()).astype("float64")
    return frame


def local_days(times: pd.Series) -> pd.Series:
    """Stored times (naive UTC) as the local day they fell on, ``YYYY-MM-DD``.

    Every zone's offset is a multiple of 15 minutes, so each distinct quarter hour is
    converted once (Python's ``astimezone``, which knows the zone's daylight saving):
    100,000 times take 0.16 s so, 2.2 s each through dateutil's tzlocal
    (bench/bench_outputs.py, loaded machine).
    """
    quarters = pd.to_datetime(times).dt.floor("15min")
    days = {q: shown.local_time(q)[:10] for q in quarters.dropna().unique()}
    return quarters.map(days)


def sums(calls: pd.DataFrame, by: str, names: Mapping[str, str | None]) -> pd.DataFrame:
    """``calls`` summed by ``by`` (session_id, model, day, kind): the most tokens first;
    by day, in date order. By session the session's name (None when it has none)."""
    calls = calls.assign(
        day=local_days(calls["created_at"]) if by == "day" else None,
        tokens=calls["input_tokens"].fillna(0) + calls["output_tokens"].fillna(0))
    out = (calls.groupby(by, dropna=False)
           .agg(calls=("kind", "size"), input_tokens=("input_tokens", "sum"),
                output_tokens=("output_tokens", "sum"), tokens=("tokens", "sum"),
                latency_ms=("latency_ms", "sum"),
                cost_usd=("cost_usd", lambda c: c.sum(min_count=1)))
           .reset_index())
    if by == "session_id":
        out.insert(1, "session_name", [names.get(s) for s in out["session_id"]])
    if by == "day":
        return out.sort_values("day", kind="stable").reset_index(drop=True)
    return out.sort_values("tokens", ascending=False, kind="stable").reset_index(drop=True)


def unpriced(calls: pd.DataFrame, prices: Mapping[str, Price] | None) -> list[str]:
    """The models called whose price is unknown."""
    return sorted({str(m) for m in calls["model"].dropna().unique()
                   if price_of(m, prices) is None})


def _caption(calls: pd.DataFrame, user: str, by: str | None,
             prices: Mapping[str, Price] | None) -> str:
    tokens = int(calls["input_tokens"].fillna(0).sum() + calls["output_tokens"].fillna(0).sum())
    said = [f"{len(calls):,} model call{'' if len(calls) == 1 else 's'} of user {user}",
            f"{tokens:,} tokens"]
    if by:
        said.insert(0, f"by {BY_LABEL[by]}")
    if calls["cost_usd"].notna().any():
        theirs = sorted({str(m) for m in calls["model"].dropna().unique()
                         if price_of(m, prices) != price_of(m)})
        said.append(f"{shown.money(calls['cost_usd'].sum())} at list prices of {PRICES_AS_OF}"
                    + (f", yours for {', '.join(theirs)}" if theirs else ""))
    missing = unpriced(calls, prices)
    if missing:
        said.append(f"no price for {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}"
                    " (prices=MODEL:IN/OUT per 1M tokens)")
    return " · ".join(said)


def label_column(by: str) -> Column:
    kind = {"session_id": "session", "day": "word"}.get(by, "word")
    return Column(by, BY_LABEL[by], kind)


def usage_frame(rows: list[dict[str, Any]], user: str, by: str | None,
                prices: Mapping[str, Price] | None, names: Mapping[str, str | None],
                show_all: bool) -> tuple[ShownFrame, pd.DataFrame]:
    """The frame ``%agent usage`` returns, and the calls it was made of."""
    calls = ledger(rows, prices)
    empty = f"No model calls of user {user!r} yet."
    if by is None:
        return table(calls, LEDGER_COLUMNS, show_all, caption=_caption(calls, user, None, prices),
                     empty=empty, latest=True), calls
    summed = sums(calls, by, names)
    columns: tuple[Column, ...] = (label_column(by), *SUM_COLUMNS)
    if by == "session_id":
        columns = (columns[0], Column("session_name", "name", "word", optional=True),
                   *SUM_COLUMNS)
    return table(summed, columns, show_all, caption=_caption(calls, user, by, prices),
                 empty=empty), calls
