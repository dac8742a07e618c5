"""``%%agent`` and ``%agent``: options, configuration, errors (jupyter-ai's conventions)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from model_server import roles_and_contents

from jupyter_agentmem.store import DuckDbStore


def magics(shell):
    return shell.magics_manager.registry["AgentMagics"]


def nothing_happened(server, db_path) -> None:
    assert server.requests == []
    store = DuckDbStore(db_path)
    assert store.list_sessions() == []
    store.close()


BAD_CELLS = {
    "unknown_option": ("bogus=1", "hi", ["Unknown option 'bogus'", "Valid options:",
                                         "format", "history", "session", "stream"]),
    "negative_history": ("history=-1", "hi", ["history='-1' is not valid", "from 0 to"]),
    "word_history": ("history=lots", "hi", ["history='lots' is not valid"]),
    "stream_maybe": ("stream=maybe", "hi", ["stream='maybe'", "stream=on", "stream=off"]),
    "format_html": ("format=html", "hi", ["format='html'", "markdown, text"]),
    "empty_value": ("session=", "hi", ["session= needs a value"]),
    "not_key_value": ("session", "hi", ["'session' is not an option", "key=value"]),
    "given_twice": ("session=a session=b", "hi", ["'session' is given twice"]),
    "unbalanced_quote": ("session='a", "hi", ["Could not read the options"]),
    "empty_cell": ("session=a", "  \n\t\n", ["The cell is empty", "Usage: %%agent"]),
}


@pytest.mark.parametrize("name", list(BAD_CELLS))
def test_bad_cell_is_a_usage_error(shell, server, db_path, name):
    line, cell, words = BAD_CELLS[name]
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("agent", line, cell)
    for word in words:
        assert word in str(info.value)
    nothing_happened(server, db_path)


BAD_LINES = {
    "no_subcommand": ("", ["needs a subcommand", "history", "sessions"]),
    "unknown_subcommand": ("histroy", ["Unknown subcommand 'histroy'",
                                       "history, import, memories"]),
    "unknown_option": ("history bogus=1", ["Unknown option 'bogus'",
                                           "Valid options: at, columns, session, user"]),
    "sessions_takes_none": ("sessions session=x", ["Unknown option 'session'"]),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_bad_line_is_a_usage_error(shell, name):
    line, words = BAD_LINES[name]
    with pytest.raises(UsageError) as info:
        shell.run_line_magic("agent", line)
    for word in words:
        assert word in str(info.value)


def run_cells(shell, *cells: str, line: str = "session=cfg"):
    with capture_output() as out:
        for cell in cells:
            shell.run_cell_magic("agent", line, cell)
    return out


def check_history(shell, server, db_path, tmp_path):
    run_cells(shell, "a", "b", "c")
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "b"), ("assistant", "echo: b"), ("user", "c")]


def check_model(shell, server, db_path, tmp_path):
    run_cells(shell, "a")
    assert server.of("chat")[-1]["model"] == "other-model"
    assert DuckDbStore(db_path).session_runs("cfg")[0].model == "other-model"


def check_db(shell, server, db_path, tmp_path):
    run_cells(shell, "a")
    assert DuckDbStore(db_path).list_sessions() == []
    other = DuckDbStore(str(tmp_path / "other.duckdb"))
    assert [s["session_id"] for s in other.list_sessions()] == ["cfg"]
    other.close()


def check_user(shell, server, db_path, tmp_path):
    run_cells(shell, "a")
    assert [s["user_id"] for s in DuckDbStore(db_path).as_user("ana").list_sessions()] == [
        "ana"]


def check_system(shell, server, db_path, tmp_path):
    run_cells(shell, "a", "b")
    assert roles_and_contents(server.of("chat")[-1])[0] == ("system", "Answer in French.")


def check_format(shell, server, db_path, tmp_path):
    out = run_cells(shell, "a")
    assert set(out.outputs[-1].data) == {"text/plain"}
    assert out.outputs[-1].data["text/plain"].startswith("echo: a")


def check_stream(shell, server, db_path, tmp_path):
    run_cells(shell, "a")
    assert not server.of("chat")[-1].get("stream")


CONFIGS = {
    "history": ("AgentMagics.history = 1", check_history),
    "model": ("AgentMagics.model = 'other-model'", check_model),
    "db": ("AgentMagics.db = {other_db!r}", check_db),
    "user": ("AgentMagics.user = 'ana'", check_user),
    "system": ("AgentMagics.system = 'Answer in French.'", check_system),
    "format": ("AgentMagics.format = 'text'", check_format),
    "stream": ("AgentMagics.stream = False", check_stream),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_config_sets_the_default(shell, server, db_path, tmp_path, name):
    assignment, check = CONFIGS[name]
    shell.run_line_magic("config", assignment.format(other_db=str(tmp_path / "other.duckdb")))
    check(shell, server, db_path, tmp_path)


def test_cell_option_beats_config(shell, server):
    shell.run_line_magic("config", "AgentMagics.history = 0")
    run_cells(shell, "a", "b", line="session=o history=1 model=cell-model")
    body = server.of("chat")[-1]
    assert body["model"] == "cell-model"
    assert roles_and_contents(body) == [("user", "a"), ("assistant", "echo: a"), ("user", "b")]


BAD_CONFIGS = {
    "negative_history": ("AgentMagics.history = -1", "history", 3, "from 0 to 10,000"),
    "word_history": ("AgentMagics.history = 'x'", "history", 3, "expected an int"),
    "format_html": ("AgentMagics.format = 'html'", "format", "markdown", "'markdown' or 'text'"),
    "empty_model": ("AgentMagics.model = ' '", "model", "test-model", "cannot be empty"),
    "empty_user": ("AgentMagics.user = ''", "user", "default", "cannot be empty"),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_config_is_refused(shell, caplog, name):
    assignment, trait, unchanged, words = BAD_CONFIGS[name]
    with caplog.at_level(logging.WARNING):
        shell.run_line_magic("config", assignment)
    assert getattr(magics(shell), trait) == unchanged
    assert words in caplog.text


def test_sessions_and_history_are_dataframes(shell, server):
    run_cells(shell, "hello", "again", line="session=foo")
    run_cells(shell, "other", line="session=bar")
    sessions = shell.run_line_magic("agent", "sessions")
    assert isinstance(sessions, pd.DataFrame)
    assert sorted(sessions["session_id"]) == ["bar", "foo"]
    assert dict(zip(sessions["session_id"], sessions["runs"], strict=True)) == {
        "foo": 2, "bar": 1}
    history = shell.run_line_magic("agent", "history session=foo")
    assert isinstance(history, pd.DataFrame)
    # By default: run, role, content and time (no ids, no Nones), text left-aligned.
    assert list(history.columns) == ["run", "role", "content", "time"]
    assert list(zip(history["run"], history["role"], history["content"], strict=True)) == [
        (0, "user", "hello"), (0, "assistant", "echo: hello"),
        (1, "user", "again"), (1, "assistant", "echo: again")]
    assert pd.api.types.is_datetime64_any_dtype(history["time"])
    assert (history["time"].dt.microsecond == 0).all()
    shown = history._repr_html_()
    assert "text-align: left" in shown and "echo: hello" in shown
    long = "word " * 100  # kept whole in the notebook display (pandas cuts at 50)
    history.loc[0, "content"] = long
    assert long.strip() in history._repr_html_()
    every = shell.run_line_magic("agent", "history session=foo columns=all")
    assert list(every.columns) == ["message_id", "run_seq", "seq", "role", "content",
                                   "status", "name", "tool_calls", "tool_call_id", "run_id",
                                   "created_at", "edited_at"]
    assert set(every["status"]) == {"ok"}
    with pytest.raises(UsageError, match="No session 'nobody' for user 'default'"):
        shell.run_line_magic("agent", "history session=nobody")  # test_messages.py: wording


def test_default_session_is_shown_and_continued(shell, server):
    session = magics(shell).session_id
    out = run_cells(shell, "first", "second", line="")
    footer = out.outputs[-1].data["text/markdown"].split("\n---\n")[-1]
    assert f"session `{session}`" in footer and "test-model" in footer
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "first"), ("assistant", "echo: first"), ("user", "second")]
    assert len(shell.run_line_magic("agent", "history")) == 4
    assert list(shell.run_line_magic("agent", "sessions")["session_id"]) == [session]


def test_no_key_and_no_base_url_says_how_to_configure(shell, server, db_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    shell.run_line_magic("config", "AgentMagics.base_url = ''")
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("agent", "session=x", "hello")
    for words in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "Ollama", "%config AgentMagics.model",
                  "model=demo"):
        assert words in str(info.value)
    nothing_happened(server, db_path)


def test_agentmem_db_env_wins_over_config(shell, server, db_path, tmp_path, monkeypatch):
    env_db = str(tmp_path / "env.duckdb")
    monkeypatch.setenv("AGENTMEM_DB", env_db)
    run_cells(shell, "a")
    assert [s["session_id"] for s in DuckDbStore(env_db).list_sessions()] == ["cfg"]
    assert DuckDbStore(db_path).list_sessions() == []
    DuckDbStore(env_db).close()


def test_unload_and_reload(shell, server):
    shell.run_line_magic("unload_ext", "jupyter_agentmem")
    assert "agent" not in shell.magics_manager.magics["cell"]
    with pytest.raises(UsageError):
        shell.run_cell_magic("agent", "", "hi")
    shell.run_line_magic("load_ext", "jupyter_agentmem")
    out = run_cells(shell, "back")
    assert "echo: back" in out.outputs[-1].data["text/plain"]


def test_demo_model_answers_offline(shell, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    shell.run_line_magic("config", "AgentMagics.base_url = ''")
    out = run_cells(shell, "hello demo", "and again", line="session=d model=demo")
    text = out.outputs[-1].data["text/plain"]
    assert "[demo model: a scripted echo, not an LLM]" in text
    assert "You said: and again" in text and "the first was: hello demo" in text


def test_demo_reply_lists_memories_as_a_markdown_list():
    from jupyter_agentmem.model.demo import _chat_reply

    reply = _chat_reply([
        {"role": "system", "content": "Be nice.\n<memories>\n- The user's name is Ana.\n"
                                      "- The user lives in Porto.\n</memories>"},
        {"role": "user", "content": "hi"}])
    assert ("What I remember about you:\n\n- The user's name is Ana.\n"
            "- The user lives in Porto.") in reply


# %load_ext starts a thread that imports what the first cell needs (notebook/preload.py,
# tests/test_cold_start.py): what counts here is what the caller's own thread imported.
LAZY_CHECK = """
import json, sys, threading, time
HEAVY = ("openai", "pandas", "ipywidgets", "duckdb", "pydantic")
by_caller = []
class Who:
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and threading.current_thread() is threading.main_thread():
            by_caller.append(name)
sys.meta_path.insert(0, Who())
import jupyter_agentmem
after_import = sorted(m for m in HEAVY if m in sys.modules)
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
ip.run_line_magic("load_ext", "jupyter_agentmem")
after_load = sorted(set(by_caller))
print(json.dumps([after_import, after_load, "agent" in ip.magics_manager.magics["cell"]]))
"""


def test_import_and_load_ext_stay_cheap():
    out = subprocess.run([sys.executable, "-c", LAZY_CHECK], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    after_import, after_load, registered = json.loads(out.stdout.splitlines()[-1])
    assert after_import == []
    assert after_load == []
    assert registered is True
