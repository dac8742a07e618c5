"""What the user is told, word for word: errors that say what to do, help in columns, the
note under a reply whose ``{name}`` names nothing (issue 18)."""

from __future__ import annotations

import re
import socket

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from model_server import roles_and_contents

from jupyter_agentmem import ModelError, OpenAIChat
from jupyter_agentmem.notebook.commands import COMMANDS, help_text
from jupyter_agentmem.notebook.magics import CELL_OPTIONS
from jupyter_agentmem.store import DuckDbStore


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def usage_error(run) -> str:
    with pytest.raises(UsageError) as info:
        run()
    return str(info.value)


# --- did you mean ----------------------------------------------------------------------

def test_a_mistyped_cell_option_names_the_option_meant(shell, server, db_path):
    said = usage_error(lambda: shell.run_cell_magic("agent", "sesion=t", "hi"))
    assert said == ("Unknown option 'sesion': did you mean session? Valid options: context, "
                    "debug, dry, format, history, memories, model, out, recall, rerun, session, "
                    "stream, summary, system, user.")
    assert server.requests == []


def test_an_option_like_nothing_lists_them_with_the_usage(shell, server):
    said = usage_error(lambda: shell.run_cell_magic("agent", "bogus=1", "hi"))
    assert said.startswith("Unknown option 'bogus'. Valid options: context, debug, dry, ")
    assert said.endswith("user. Usage: %%agent [session=ID] [user=ID] [model=ID] "
                         "[history=N|Nk] [system=TEXT] [stream=on|off] "
                         "[format=markdown|text|code] [memories=on|off] [summary=on|off] "
                         "[context=on|off] [out=NAME] [rerun=supersede|append] [recall=N] "
                         "[dry=on|off] [debug=on|off], then your message in the cell.")


def test_a_mistyped_value_names_the_value_meant(shell, server):
    said = usage_error(lambda: shell.run_cell_magic("agent", "format=markdwon", "hi"))
    assert said == ("format='markdwon' is not valid: did you mean markdown? Use one of "
                    "markdown, text, code.")
    said = usage_error(lambda: shell.run_cell_magic("agent", "format=html", "hi"))
    assert said == "format='html' is not valid: use one of markdown, text, code."


def test_a_mistyped_subcommand_names_the_subcommand_meant(shell):
    said = usage_error(lambda: shell.run_line_magic("agent", "histroy"))
    assert said == (f"Unknown subcommand 'histroy': did you mean history? Valid: "
                    f"{', '.join(sorted(COMMANDS))}. %agent help shows each one's options.")
    said = usage_error(lambda: shell.run_line_magic("agent", "zzz"))
    assert said == (f"Unknown subcommand 'zzz'. Valid: {', '.join(sorted(COMMANDS))}. "
                    "%agent help shows each one's options.")


def test_a_mistyped_subcommand_option_names_the_option_meant(shell):
    said = usage_error(lambda: shell.run_line_magic("agent", "history sesion=x"))
    assert said == ("Unknown option 'sesion': did you mean session? Valid options: at, "
                    "columns, session, user.")


# --- a subcommand's errors show that subcommand's usage only ----------------------------

def test_a_subcommand_error_shows_its_own_usage(shell):
    said = usage_error(lambda: shell.run_line_magic("agent", "summary bogus=1"))
    assert said == ("Unknown option 'bogus'. Valid options: columns, session, user. "
                    "Usage: %agent summary [session=ID] [user=ID] [columns=all]")
    said = usage_error(lambda: shell.run_line_magic("agent", "export"))
    assert said == ("This needs path=FILE. "
                    "Usage: %agent export [session=ID] [user=ID] path=FILE")
    said = usage_error(lambda: shell.run_line_magic("agent", "forget"))
    assert said == ("forget needs memory_id=ID, or user=ID confirm=yes. Usage: %agent forget "
                    "[memory_id=ID] [user=ID] [purge=yes] [session=ID] [message=ID] "
                    "[confirm=yes]")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_subcommand_error_names_no_other_subcommand(shell, name):
    """``%agent usage user=ana`` listed the usage of all 12 subcommands."""
    said = usage_error(lambda: shell.run_line_magic("agent", f"{name} bogus=1"))
    assert said.endswith("Usage: %agent " + COMMANDS[name].usage())
    others = [c for c in COMMANDS if c != name]
    assert not any(f"{other} [" in said or f"| {other}" in said for other in others), said


# --- unknown or empty sessions -----------------------------------------------------------

def test_an_unknown_session_is_said(shell):
    """It showed ``Empty TextFrame`` (an internal class name)."""
    said = usage_error(lambda: shell.run_line_magic("agent", "history session=nosuch"))
    assert said == "No session 'nosuch' for user 'default'. %agent sessions lists yours."
    said = usage_error(lambda: shell.run_line_magic("agent", "summary session=nosuch user=ana"))
    assert said == "No session 'nosuch' for user 'ana'. %agent sessions lists yours."


def test_the_kernels_session_before_its_first_cell_is_said(shell):
    session = shell.magics_manager.registry["AgentMagics"].session_id
    said = usage_error(lambda: shell.run_line_magic("agent", "history"))
    assert said == (f"No session '{session}' for user 'default' yet: this kernel's session "
                    "starts with its first %%agent cell. Give session=ID (%agent sessions "
                    "lists yours).")


def test_a_session_without_messages_is_said(shell, db_path):
    store = DuckDbStore(db_path)
    store.as_user("default").save_session("empty")
    store.close()
    said = usage_error(lambda: shell.run_line_magic("agent", "history session=empty"))
    assert said == "Session 'empty' of user 'default' has no messages."


# --- a model server that cannot be reached ------------------------------------------------

def test_an_unreachable_server_is_named_with_the_setting_to_change(shell, server):
    url = closed_port_url()
    shell.run_line_magic("config", f"AgentMagics.base_url = {url!r}")
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=down", "hello?")
    final = out.outputs[-1].data
    expected = (f"Could not reach the model server at {url} ([Errno 111] Connection "
                "refused). Check that the server is running, or set another address with "
                "%config AgentMagics.base_url = '<url>'.")
    assert final["text/markdown"].startswith(f"**Model error** (error): {expected}\n\n")
    # The plain text (a terminal, a text export) has no Markdown to show raw.
    assert final["text/plain"].startswith(f"Model error (error): {expected}\n\n")
    assert "**" not in final["text/plain"]


def test_an_unreachable_server_from_the_environment_says_so(monkeypatch):
    url = closed_port_url()
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    with pytest.raises(ModelError) as info:
        OpenAIChat(id="m", api_key="sk-x", max_retries=0).response([{"role": "user",
                                                                      "content": "hi"}])
    assert str(info.value) == (
        f"Could not reach the model server at {url} ([Errno 111] Connection refused). "
        "Check that the server is running (the address comes from OPENAI_BASE_URL), or set "
        "another address with OpenAIChat(base_url='<url>') or OPENAI_BASE_URL.")


def test_an_unreachable_server_given_in_code_says_so():
    url = closed_port_url()
    with pytest.raises(ModelError) as info:
        OpenAIChat(id="m", base_url=url, api_key="sk-x", max_retries=0).response(
            [{"role": "user", "content": "hi"}])
    assert str(info.value) == (
        f"Could not reach the model server at {url} ([Errno 111] Connection refused). "
        "Check that the server is running, or set another address with "
        "OpenAIChat(base_url='<url>') or OPENAI_BASE_URL.")


# --- {name} that names nothing ---------------------------------------------------------

def test_a_name_that_is_no_variable_is_sent_as_written_and_said(shell, server):
    shell.user_ns["df"] = [1, 2]
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=ctx", "Compare {df} with {undefined_df} "
                             "and {undefined_df}, {Out[99]}, {Err}")
    sent = roles_and_contents(server.of("chat")[-1])[-1][1]
    assert sent == ("Compare [1, 2] with {undefined_df} and {undefined_df}, {Out[99]}, {Err}")
    final = out.outputs[-1].data
    assert final["text/plain"].endswith(
        "\n-- {undefined_df}: no such variable, sent as written"
        "\n-- {Out[99]}: no such output, sent as written"
        "\n-- {Err}: no error yet, sent as written")
    # In Markdown the note reads the same once rendered (escaped, not a link or emphasis).
    assert final["text/markdown"].endswith(
        "<br>\\{undefined\\_df\\}: no such variable, sent as written"
        "<br>\\{Out\\[99\\]\\}: no such output, sent as written"
        "<br>\\{Err\\}: no error yet, sent as written</sub>")


def test_a_cell_whose_names_all_resolve_has_no_note(shell, server):
    shell.user_ns["df"] = [1, 2]
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=ctx", "Look at {df}")
    assert "sent as written" not in out.outputs[-1].data["text/plain"]


# --- help ------------------------------------------------------------------------------

def test_help_is_in_aligned_columns():
    text = help_text(CELL_OPTIONS)
    assert ("  format=markdown|text|code  how to show it; code also puts the reply's code "
            "in a new cell below") in text.splitlines()
    cell, line = text.split("\n\n")[:2]
    for table in (cell, line):
        rows = table.splitlines()[1:]
        # Every description starts in one column; wrapped lines continue under it.
        starts = {m.end() for m in (re.match(r"  \S+(?: \S+)*?  +", r) for r in rows) if m}
        assert len(starts) == 1, starts
        column = starts.pop()
        for row in rows:
            assert row[:column].strip() == "" or row[column - 2:column] == "  ", row
            assert len(row) <= 100
    assert max(len(r) for r in text.splitlines()) <= 100


def test_help_says_import_takes_no_md():
    text = help_text(CELL_OPTIONS)
    after = text.split("\n  import ", 1)[1].split("\n  usage ", 1)[0]
    assert "path=FILE" in after and "a .jsonl file or .parquet folder written by export " \
        "(not .md)" in after
    assert ".md, .jsonl or .parquet" not in text


def test_import_of_an_md_file_says_what_to_import(shell, tmp_path):
    said = usage_error(lambda: shell.run_line_magic(
        "agent", f"import path={tmp_path / 'chat.md'}"))
    assert said == (f"{str(tmp_path / 'chat.md')!r} is a transcript for reading: import a "
                    ".jsonl file or a .parquet folder")
