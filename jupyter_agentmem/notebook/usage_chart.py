"""``%agent usage plot=on``: the sums as a chart worth looking at.

By session, model or kind: stacked bars of input and output tokens, the most first,
horizontal when the labels are long or many (a session id drawn vertically took ~250
px), each bar labelled with its total (and cost when known). By day: a time series
with every day in the range (days without calls are 0), and the cost per day below it
when any price is known. The legend sits above the plot, never over a bar; the figure
is white (readable on JupyterLab's dark theme too) and made in a ``rc_context``, so the
user's matplotlib settings are neither used nor changed.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from . import display_values as shown

INPUT, OUTPUT, COST = "#4e79a7", "#f28e2b", "#59a14f"
MAX_BARS = 20  # the rest are summed into one "other" bar
LONG_LABEL = 8  # characters: longer labels (or more than 6 bars) make the bars horizontal
_STYLE = {
    "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#999999",
    "axes.labelcolor": "#333333", "xtick.color": "#555555", "ytick.color": "#333333",
    "axes.titlesize": 12, "axes.titleweight": "bold", "axes.titlecolor": "#222222",
    "font.size": 10, "figure.facecolor": "white", "axes.facecolor": "white",
    "savefig.facecolor": "white", "legend.frameon": False, "figure.dpi": 100,
}


def compact(n: float) -> str:
    """12345 -> '12.3k' (axis ticks and bar labels)."""
    n = float(n)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{n:.0f}"


def labels_of(summed: pd.DataFrame, by: str) -> list[str]:
    if by == "session_id":
        names = summed["session_name"] if "session_name" in summed else [None] * len(summed)
        return [shown.session_label(s, n) or "(none)" for s, n in zip(summed[by], names)]
    return ["(none)" if shown.missing(v) else str(v) for v in summed[by]]


def _legend_and_title(ax: Any, title: str) -> None:
    ax.set_title(title, loc="left", pad=24)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, fontsize=9,
              handlelength=1.2, borderaxespad=0.3)


def _bars(summed: pd.DataFrame, by: str, user: str) -> Any:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    labels = labels_of(summed, by)
    data = summed.assign(label=labels)
    if len(data) > MAX_BARS:  # the most first: the tail becomes one bar
        rest = data.iloc[MAX_BARS - 1:]
        other = {"label": f"other ({len(rest)})", "input_tokens": rest["input_tokens"].sum(),
                 "output_tokens": rest["output_tokens"].sum(), "tokens": rest["tokens"].sum(),
                 "cost_usd": rest["cost_usd"].sum(min_count=1)}
        data = pd.concat([data.iloc[:MAX_BARS - 1], pd.DataFrame([other])], ignore_index=True)
    inputs = data["input_tokens"].fillna(0).to_numpy(float)
    outputs = data["output_tokens"].fillna(0).to_numpy(float)
    notes = [compact(t) + (f" · {shown.money(c)}" if not shown.missing(c) else "")
             for t, c in zip(data["tokens"], data["cost_usd"])]
    horizontal = len(data) > 6 or max(len(s) for s in data["label"]) > LONG_LABEL
    positions = range(len(data))
    ticks = FuncFormatter(lambda v, _: compact(v))
    title = f"Tokens by {by.removesuffix('_id')} · user {user}"
    if horizontal:
        fig, ax = plt.subplots(figsize=(8.5, 1.4 + 0.42 * len(data)))
        ax.barh(positions, inputs, color=INPUT, label="input", height=0.62)
        ax.barh(positions, outputs, left=inputs, color=OUTPUT, label="output", height=0.62)
        ax.set_yticks(list(positions), list(data["label"]))
        ax.invert_yaxis()  # the most at the top
        ax.xaxis.set_major_formatter(ticks)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.8)
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="y", length=0)
        for y, (end, note) in enumerate(zip(inputs + outputs, notes)):
            ax.annotate(note, (end, y), xytext=(4, 0), textcoords="offset points",
                        va="center", fontsize=9, color="#333333")
        ax.set_xlim(0, max(1.0, float((inputs + outputs).max())) * 1.22)
        ax.set_xlabel("tokens")
    else:
        fig, ax = plt.subplots(figsize=(max(4.5, 1.1 * len(data) + 2.5), 4.2))
        ax.bar(positions, inputs, color=INPUT, label="input", width=0.6)
        ax.bar(positions, outputs, bottom=inputs, color=OUTPUT, label="output", width=0.6)
        ax.set_xticks(list(positions), list(data["label"]))
        ax.yaxis.set_major_formatter(ticks)
        ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
        ax.tick_params(axis="x", length=0)
        for x, (end, note) in enumerate(zip(inputs + outputs, notes)):
            ax.annotate(note, (x, end), xytext=(0, 3), textcoords="offset points",
                        ha="center", fontsize=9, color="#333333")
        ax.set_ylim(0, max(1.0, float((inputs + outputs).max())) * 1.15)
        ax.set_ylabel("tokens")
    ax.set_axisbelow(True)
    _legend_and_title(ax, title)
    fig.tight_layout()
    return fig


def _days(summed: pd.DataFrame, user: str) -> Any:
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    days = summed.assign(day=pd.to_datetime(summed["day"])).set_index("day")
    full = pd.date_range(days.index.min(), days.index.max(), freq="D")
    days = days.reindex(full)
    inputs = days["input_tokens"].fillna(0)
    outputs = days["output_tokens"].fillna(0)
    priced = days["cost_usd"].notna().any()
    if priced:
        fig, (ax, cost_ax) = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True,
                                          gridspec_kw={"height_ratios": (3, 1.3)})
    else:
        fig, ax = plt.subplots(figsize=(9, 4))
        cost_ax = None
    if len(full) <= 92:
        width = 0.8
        ax.bar(full, inputs, width=width, color=INPUT, label="input")
        ax.bar(full, outputs, width=width, bottom=inputs, color=OUTPUT, label="output")
    else:  # a bar per day is too thin to see: stacked areas
        ax.stackplot(full, inputs, outputs, colors=(INPUT, OUTPUT), labels=("input", "output"))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: compact(v)))
    ax.set_ylabel("tokens")
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
    ax.set_axisbelow(True)
    _legend_and_title(ax, f"Tokens per day · user {user}")
    bottom = cost_ax if cost_ax is not None else ax
    if cost_ax is not None:
        cost_ax.bar(full, days["cost_usd"].fillna(0), width=0.8, color=COST)
        cost_ax.set_ylabel("cost (USD)")
        cost_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: shown.money(v)))
        cost_ax.grid(axis="y", color="#e5e5e5", linewidth=0.8)
        cost_ax.set_axisbelow(True)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    margin = pd.Timedelta(days=1 if len(full) < 7 else 0.6)  # no empty day at either end
    bottom.set_xlim(full[0] - margin, full[-1] + margin)
    if len(full) < 7:  # a few days: a tick on each day
        bottom.xaxis.set_major_locator(mdates.DayLocator())
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    fig.tight_layout()
    return fig


def draw(summed: pd.DataFrame, by: str, user: str) -> None:
    """Draw the chart of ``summed`` (``usage.sums``) and show it (``plt.show``: inline in
    a notebook, the user's backend elsewhere)."""
    import matplotlib.pyplot as plt

    if summed.empty:
        return
    with plt.rc_context(_STYLE):
        fig = _days(summed, user) if by == "day" else _bars(summed, by, user)
        fig.set_facecolor("white")
        plt.show()
