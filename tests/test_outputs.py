"""Every ``%agent`` output as a user sees it (issue 18, points 1 and 2): the HTML a
notebook shows and the text a terminal prints, over tests/sample_outputs.py's store;
and the value code gets: the same plain DataFrame as before."""

from __future__ import annotations

import pickle
import re
import time

import matplotlib
import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.lib.pretty import pretty
from IPython.utils.capture import capture_output
from sample_outputs import BOB, BOB_WORDS, KERNEL, THESIS, TRIP, TRIP_NAME, seed

from jupyter_agentmem.notebook.frames import ShownFrame
from jupyter_agentmem.ranked import COLUMNS as SEARCH_COLUMNS
from jupyter_agentmem.store import DuckDbStore
from jupyter_agentmem.types import Memory

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
WIDE_ID = re.compile(r"[0-9a-f]{9,}|[0-9a-f]{8}-[0-9a-f]", re.I)  # more than 8 of an id


def visible(html: str) -> str:
    """The text a browser shows of ``html`` (no tags, no CSS, no title attributes)."""
    html = re.sub(r"<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture
def sample(shell, db_path):
    store = DuckDbStore(db_path)
    ids = seed(store)
    store.close()
    shell.run_line_magic("config", "AgentMagics.user = 'ana'")
    return ids


def agent(shell, line: str):
    return shell.run_line_magic("agent", line)


def assert_short_ids(frame, *id_columns: str) -> None:
    """No id wider than 8 characters in the page or the text; each whole one on hover."""
    html, text = frame._repr_html_(), pretty(frame)
    for shown in (visible(html).replace(KERNEL, ""), text.replace(KERNEL, "")):
        assert not WIDE_ID.search(shown), WIDE_ID.search(shown)
        assert "\\n" not in shown
    for column in id_columns:
        for whole in frame[column].dropna():
            if UUID.search(str(whole)):
                assert f'title="{whole}"' in html and str(whole)[:8] in visible(html)


def test_history_is_a_conversation_with_badges_and_real_line_breaks(shell, sample):
    history = agent(shell, f"history session={TRIP}")
    # The value: as before, a plain DataFrame's columns and whole texts.
    assert isinstance(history, pd.DataFrame)
    assert list(history.columns) == ["run", "role", "content", "time", "status"]
    assert history["content"].iloc[0] == ("I'm planning a weekend in Lisbon in May.\n"
                                          "I love green tea and azulejo tiles.")
    html, text = history._repr_html_(), pretty(history)
    assert_short_ids(history)
    # The user's turn as written, with its line break; the reply rendered as Markdown.
    assert ("I&#x27;m planning a weekend in Lisbon in May.\nI love green tea and azulejo "
            "tiles." in html) and "agentmem-plain" in html and "white-space: pre-wrap" in html
    assert "<strong>Day one</strong>" in html and "<ol>" in html and "**" not in visible(html)
    assert '<span class="agentmem-badge agentmem-badge-error">failed</span>' in html
    assert ">interrupted: no reply stored</span>" in html
    # The terminal: a block per run, each role and text in its own column.
    assert "run 2 · " in text and " · failed" in text
    assert " · interrupted: no reply stored\n  user       Can you book a table for two?" in text
    assert "  user       I'm planning a weekend in Lisbon in May.\n" \
           "             I love green tea and azulejo tiles." in text
    # Code that filters it gets an ordinary DataFrame, shown as pandas shows one.
    users = history[history["role"] == "user"]
    assert type(users) is pd.DataFrame and type(history.copy()) is pd.DataFrame
    back = pickle.loads(pickle.dumps(history))
    assert isinstance(back, ShownFrame) and back._repr_html_().count("agentmem-run\"") == 5


def test_times_are_local_to_the_minute(shell, sample, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    try:
        memories = agent(shell, "memories")
        stored = memories["updated_at"].iloc[0]  # naive UTC, as stored
        local = (pd.Timestamp(stored) + pd.Timedelta(hours=5, minutes=30)).strftime(
            "%Y-%m-%d %H:%M")
        assert local in visible(memories._repr_html_()) and local in pretty(memories)
        history = agent(shell, f"history session={TRIP}")
        first = (pd.Timestamp(history["time"].iloc[0]) + pd.Timedelta(hours=5, minutes=30))
        assert f"run 0 · {first:%Y-%m-%d %H:%M}" in pretty(history)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_memories_lead_with_the_memory_and_shorten_ids(shell, sample):
    memories = agent(shell, "memories")
    assert list(memories.columns) == ["memory_id", "user_id", "memory", "topics", "input",
                                      "session_id", "created_at", "updated_at", "deleted_at"]
    assert_short_ids(memories, "memory_id")
    html = memories._repr_html_()
    headers = re.findall(r'<th [^>]*class="col_heading[^"]*"[^>]*>([^<]*)</th>', html)
    assert headers == ["memory", "topics", "updated", "session", "id"]
    assert "drinks, preferences" in visible(html)
    assert "4 memories of user ana" in visible(html)
    assert BOB_WORDS not in html and BOB_WORDS not in pretty(memories)
    # columns=all: every column, ids whole.
    every = agent(shell, "memories columns=all")
    assert memories["memory_id"].iloc[0] in visible(every._repr_html_())
    assert memories["memory_id"].iloc[0] in pretty(every)


def test_search_marks_the_words_and_keeps_run_numbers_whole(shell, sample):
    hits = agent(shell, "search tea")
    assert list(hits.columns) == SEARCH_COLUMNS
    assert str(hits["run_seq"].dtype) == "Int64"  # 0, 1, 2... and <NA> for memories
    assert hits["run_seq"].isna().sum() == (hits["kind"] != "messages").sum()
    html = hits._repr_html_()
    assert_short_ids(hits, "id")
    assert "Ana loves green <mark>tea</mark>." in html
    assert "KeyError &#x27;<mark>tea</mark>&#x27;" in html  # escaped around the mark
    rows = re.findall(r"<tr>.*?</tr>", html, flags=re.S)[1:]
    assert all("<mark>" in row for row in rows)  # every hit shows why it matched
    assert "0.0" not in visible(html).split() and "nan" not in visible(html).lower()
    assert BOB_WORDS not in html and BOB not in html  # bob's "she hates tea" never shows
    assert "Ana loves green tea." in pretty(hits)


def test_sessions_show_names_and_short_ids(shell, sample):
    sessions = agent(shell, "sessions")
    assert {"session_id", "runs", "messages", "session_name"} <= set(sessions.columns)
    assert set(sessions["session_id"]) == {TRIP, THESIS, KERNEL}
    assert_short_ids(sessions, "session_id")
    assert TRIP_NAME in visible(sessions._repr_html_()) and TRIP_NAME in pretty(sessions)


def test_summary_versions_read_as_text(shell, sample):
    summary = agent(shell, f"summary session={TRIP}")
    assert list(summary["version"]) == [1, 2]
    html = summary._repr_html_()
    assert "through run" in html and "travel, tea, itinerary" in visible(html)
    assert_short_ids(summary)


def test_text_is_escaped_and_cut_in_the_display_only(shell, sample, db_path):
    store = DuckDbStore(db_path)
    long = "<script>alert(1)</script> " + "x" * 5000
    store.as_user("ana").add_memory(Memory(user_id="ana", memory=long))
    for i in range(70):
        store.as_user("ana").add_memory(Memory(user_id="ana", memory=f"fact {i}"))
    store.close()
    memories = agent(shell, "memories")
    html = memories._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert long in list(memories["memory"])  # the value: whole
    assert "more characters in the DataFrame" in html
    assert "first 60 of 75 rows shown (the DataFrame holds all)" in visible(html)
    assert html.count("<tr>") == 61 and len(memories) == 75


def test_usage_is_the_users_own_with_costs(shell, sample):
    ana = agent(shell, "usage")
    assert set(ana["user_id"]) == {"ana"} and BOB not in set(ana["session_id"])
    assert list(ana.columns)[:10] == ["created_at", "kind", "model", "session_id", "user_id",
                                      "run_id", "input_tokens", "output_tokens", "latency_ms",
                                      "ok"]
    bob = agent(shell, "usage user=bob")
    assert set(bob["session_id"]) == {BOB} and len(bob) == 3
    for frame in (ana, agent(shell, "usage by=session"), agent(shell, "usage by=model")):
        assert "bob" not in frame._repr_html_() and "bob" not in pretty(frame)
    # gpt-4o at 2.50 / 10.00 USD per 1M tokens; llama3:8b has no price (blank, not 0).
    gpt4o = ana[ana["model"] == "gpt-4o"].iloc[0]
    assert gpt4o["cost_usd"] == pytest.approx(
        (gpt4o["input_tokens"] * 2.5 + gpt4o["output_tokens"] * 10) / 1e6)
    assert ana[ana["model"] == "llama3:8b"]["cost_usd"].isna().all()
    assert ana[~ana["ok"]]["cost_usd"].isna().all()  # no tokens reported: not "free"
    html = ana._repr_html_()
    assert "no price for llama3:8b" in visible(html) and "list prices of 2025-08" in html
    assert_short_ids(ana, "run_id")
    shown = visible(html)
    assert "2476.58" not in shown and "2,477" in shown  # latency_ms a whole number
    # Session names, or a short id, label the sums.
    by_session = agent(shell, "usage by=session")
    assert {s: None if pd.isna(n) else n for s, n in zip(by_session["session_id"],
                                                         by_session["session_name"])} == {
        TRIP: TRIP_NAME, THESIS: None, KERNEL: None}
    assert_short_ids(by_session, "session_id")
    assert list(by_session["tokens"]) == sorted(by_session["tokens"], reverse=True)


def test_prices_can_be_given_and_are_checked(shell, sample):
    by_model = agent(shell, "usage by=model prices=llama3:8b:0.5/1,gpt-4o:1/1").set_index(
        "model")
    assert by_model.loc["llama3:8b", "cost_usd"] == pytest.approx(
        (by_model.loc["llama3:8b", "input_tokens"] * 0.5
         + by_model.loc["llama3:8b", "output_tokens"] * 1) / 1e6)
    assert by_model.loc["gpt-4o", "cost_usd"] == pytest.approx(
        by_model.loc["gpt-4o", "tokens"] / 1e6)
    shell.run_line_magic("config", "AgentMagics.prices = {'llama3:8b': (0, 0)}")
    assert agent(shell, "usage by=model").set_index("model").loc[
        "llama3:8b", "cost_usd"] == 0
    with pytest.raises(UsageError, match=r"prices='gpt-4o=2' is not valid: 'gpt-4o=2' is "
                                         r"not MODEL:IN/OUT"):
        agent(shell, "usage prices=gpt-4o=2")
    with pytest.raises(UsageError, match=r"must be two numbers from 0 to 10,000"):
        agent(shell, "usage prices=x:1/20000")


def test_bad_prices_config_is_refused(shell, caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        shell.run_line_magic("config", "AgentMagics.prices = {'x': (1, -2)}")
    assert "AgentMagics.prices: the price of 'x' must be two numbers" in caplog.text
    magics = shell.magics_manager.registry["AgentMagics"]
    assert magics.prices == {}


def test_charts_label_sessions_by_name_and_days_as_a_time_series(shell, sample, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    agent(shell, "usage by=session plot=on")
    (fig,) = [plt.figure(n) for n in plt.get_fignums()]
    (ax,) = fig.axes
    # Horizontal bars (long labels), the most tokens on top, names or 8-character ids.
    assert [t.get_text() for t in ax.get_yticklabels()] == [THESIS[:8], KERNEL, TRIP_NAME]
    bars = ax.patches
    assert all(b.get_width() >= 0 and b.get_height() < 1 for b in bars)  # barh
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["input", "output"]
    # The legend stands above the plot, not over a bar.
    fig.canvas.draw()
    assert legend.get_window_extent().y0 >= ax.get_window_extent().y1 - 1
    notes = [t.get_text() for t in ax.texts]
    assert notes[0].startswith("31.") and "$" in notes[0] and "$" not in notes[1]
    plt.close("all")

    agent(shell, "usage by=day plot=on")
    (fig,) = [plt.figure(n) for n in plt.get_fignums()]
    tokens_ax, cost_ax = fig.axes  # the cost per day below the tokens
    assert cost_ax.get_ylabel() == "cost (USD)"
    days = agent(shell, "usage by=day")
    first, last = pd.Timestamp(days["day"].iloc[0]), pd.Timestamp(days["day"].iloc[-1])
    assert len(tokens_ax.patches) == 2 * ((last - first).days + 1)  # every day, in and out
    plt.close("all")

    agent(shell, "usage by=kind plot=on")  # 3 short labels: upright bars
    (fig,) = [plt.figure(n) for n in plt.get_fignums()]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["chat", "memory",
                                                                     "summary"]
    plt.close("all")


def test_context_shows_the_token_split_as_a_stacked_bar(shell, sample):
    with capture_output() as out:
        assert agent(shell, f"context session={TRIP}") is None
    (shown,) = out.outputs
    html = shown.data["text/html"]
    segments = re.findall(r'<div style="flex: (\d+) 1 0; background: (#[0-9a-f]{6})" '
                          r'title="(\w+): ', html)
    assert [(int(n), part) for n, _, part in segments] == [
        (186, "system"), (42, "memories"), (61, "summary"), (318, "history"), (12, "message")]
    assert len({colour for _, colour, _ in segments}) == 5
    assert "none: recalled" in html and not WIDE_ID.search(visible(html))
    text = shown.data["text/plain"]
    assert "  history   318  ███████████████" in text and "51%" in text
    assert text.rstrip().endswith("--- user ---\nWhich tea house did you suggest?")


def test_a_long_ledger_shows_its_latest_calls(shell, sample, db_path):
    from datetime import datetime

    from jupyter_agentmem.notebook.display_values import local_time
    from jupyter_agentmem.types import ModelCall

    store = DuckDbStore(db_path).as_user("ana")
    for i in range(40):
        store.record_model_call(ModelCall(kind="memory", model="gpt-4o-mini", user_id="ana",
                                          input_tokens=100 + i, output_tokens=1,
                                          created_at=datetime(2020, 1, 1, 0, i)))
    store.close()
    ledger = agent(shell, "usage")
    assert len(ledger) == 74 and ledger["input_tokens"].iloc[0] == 100  # oldest first
    # Drawn: rows 14-73, the newest (the 14 oldest are in the DataFrame only).
    not_drawn, drawn = (local_time(datetime(2020, 1, 1, 0, m)) for m in (13, 14))
    for shown in (visible(ledger._repr_html_()), pretty(ledger)):
        assert "last 60 of 74 rows shown (the DataFrame holds all)" in shown
        assert drawn in shown and not_drawn not in shown
        assert local_time(ledger["created_at"].max()) in shown
