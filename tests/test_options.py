"""The magics' option line: taken as written, read in linear time, bad input a UsageError.

Property tests (hypothesis) feed the parser arbitrary text (lone surrogates, NUL, SQL,
1 MB lines): the result is a clean parse or a clean ``UsageError``, never anything else,
and the words are the ones ``shlex.split`` (the POSIX reading we replaced) gives.
"""

from __future__ import annotations

import re
import shlex

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from model_server import roles_and_contents
from traitlets import TraitError

from jupyter_agentmem.notebook import options as opt
from jupyter_agentmem.notebook.commands import COMMANDS
from jupyter_agentmem.notebook.magics import CELL_OPTIONS, CELL_USAGE
from jupyter_agentmem.store import DuckDbStore, open_store

# Every character, lone surrogates included (hypothesis leaves them out unless asked).
ANY_CHAR = st.characters(exclude_categories=())
SQL = ["'; DROP TABLE messages; --", "\" OR 1=1 --", "x' UNION SELECT * FROM memories --",
       "); DELETE FROM runs; --", "\\'; COPY memories TO '/tmp/x'; --"]
SHELLISH = st.sampled_from([" ", "#", "\t", "\n", "'", '"', "\\", "=", "\x00", "\ud800", "{x}",
                            "$x", "system=", "history=", "session=", *SQL])
ANY_LINE = st.lists(st.one_of(st.text(ANY_CHAR, max_size=20), SHELLISH), max_size=30).map(
    "".join)
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")  # a shared 2-core machine: no per-example deadline

MB = 1_000_000


def parse_cell(line: str) -> dict:
    return opt.parse_options(line, CELL_OPTIONS, CELL_USAGE)


# --- the magics take the line as written ----------------------------------------------

def test_cell_option_line_is_not_expanded(shell, server):
    shell.user_ns.update(token="SECRET-TOKEN", name="ana", x=1)
    with capture_output():
        shell.run_cell_magic("agent", 'session=s system="JSON like {token}, $name, {x+1}"',
                             "hi")
    assert roles_and_contents(server.of("chat")[-1])[0] == (
        "system", "JSON like {token}, $name, {x+1}")


def test_line_magic_line_is_not_expanded(shell, server, db_path):
    shell.user_ns.update(sid="plain")
    with capture_output():
        shell.run_cell_magic("agent", "session={sid}", "hi")
        shell.run_cell_magic("agent", "session=$sid", "hi")
    assert sorted(s["session_id"] for s in DuckDbStore(db_path).list_sessions()) == [
        "$sid", "{sid}"]
    assert list(shell.run_line_magic("agent", "history session={sid}")["content"]) == [
        "hi", "echo: hi"]
    with pytest.raises(UsageError, match="No session 'plain'"):
        shell.run_line_magic("agent", "history session=plain")


# --- numbers out of range are refused, not stored or sent -------------------------------

@pytest.mark.parametrize("value", ["1e30", "2**63", str(2**63), str(2**64), "10001",
                                   "1_000", "\uff17", "-0", "9" * 5000])
def test_history_out_of_range_is_a_usage_error(shell, server, db_path, value):
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("agent", f"session=s history='{value}'", "hi")
    assert "history=" in str(info.value) and "0 to 10,000" in str(info.value)
    assert len(str(info.value)) < 1000  # a long value is not echoed whole
    assert server.requests == []
    assert DuckDbStore(db_path).list_sessions() == []


def test_history_bounds_are_accepted():
    assert parse_cell("history=0") == {"history": ("runs", 0)}
    assert parse_cell("history=10000") == {"history": ("runs", 10000)}


def test_history_config_out_of_range_is_refused(shell, caplog):
    shell.run_line_magic("config", f"AgentMagics.history = {2**63}")
    assert shell.magics_manager.registry["AgentMagics"].history == 3
    assert "from 0 to 10,000" in caplog.text


@pytest.mark.parametrize("value", ["a\x00b", "a\ud800", "tab\there", "x" * 257])
def test_bad_id_is_a_usage_error(shell, server, db_path, value):
    with pytest.raises(UsageError) as info:
        shell.run_cell_magic("agent", "session=" + shlex.quote(value), "hi")
    assert "session=" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("option", ["system=be\ud800nice", "system=a\x00b",
                                    "model=x\udfffy"])
def test_text_that_cannot_be_sent_is_a_usage_error_before_anything_is_sent(
        shell, server, db_path, option):
    """A lone surrogate (or a NUL) in system= used to fail the model call mid-turn
    ("Not saved"); in model= too: refused before anything is sent or stored."""
    name = option.split("=")[0]
    with pytest.raises(UsageError, match=f"^{name}=.* holds '\\\\(udfff|ud800|x00)'"):
        shell.run_cell_magic("agent", "session=s " + option, "hi")
    assert server.requests == []
    assert open_store(db_path).session_runs("s") == []


def test_config_text_that_cannot_be_sent_is_refused(shell):
    magics = shell.magics_manager.registry["AgentMagics"]
    for name in ("system", "model", "user"):
        with pytest.raises(TraitError, match=f"AgentMagics.{name}=.* lone surrogate"):
            setattr(magics, name, "a\ud800")
    assert magics.system == "" and magics.model == "test-model"


# --- 1 MB lines -------------------------------------------------------------------------

def test_a_1mb_system_prompt_is_read_whole():
    prompt = "You are terse. " * (MB // 15) + '"quoted" and \\ and {braces}'
    line = "session=s system=" + shlex.quote(prompt) + " history=2"
    assert parse_cell(line) == {"session": "s", "system": prompt, "history": ("runs", 2)}


# name: (line, what it reads as; None = a UsageError)
PATHOLOGICAL = {
    "unclosed_quote": ('"' + "a" * MB, None),
    "many_words": ("a " * (MB // 2), None),
    "many_quotes": ("system=" + "'a'" * (MB // 3), {"system": "a" * (MB // 3)}),
    "many_escapes_in_double_quotes": ("system=" + '"\\"a"' * (MB // 5),
                                      {"system": '"a' * (MB // 5)}),
    "many_escapes": ("system=" + "a\\ " * (MB // 3), {"system": "a " * (MB // 3)}),
    "equals": ("=" * MB, None),
    "nul_and_surrogates": ("system=" + "\x00\ud800" * (MB // 2), None),  # never sendable
    "long_value_then_garbage": ("system=" + "x" * MB + " '", None),
}


@pytest.mark.parametrize("name", list(PATHOLOGICAL))
def test_a_1mb_line_parses_or_is_refused(name):
    line, expected = PATHOLOGICAL[name]
    if expected is None:
        with pytest.raises(UsageError) as info:
            parse_cell(line)
        assert len(str(info.value)) < 2000  # the line is not echoed whole
    else:
        assert parse_cell(line) == expected


def test_pathological_lines_read_as_shlex_reads_them():
    # shlex is quadratic, so compare on a 20,000-character slice of each.
    for line, _ in PATHOLOGICAL.values():
        piece = line[:20_000]
        try:
            expected = shlex.split(piece)
        except ValueError:
            with pytest.raises(ValueError):
                list(opt.words_of(piece))
            continue
        assert list(opt.words_of(piece)) == expected


def test_the_magic_takes_a_long_line_without_expanding_it(shell, server):
    # IPython's expansion took 6 s for 20,000 characters and ~9 min for 200,000.
    line = "session=s system=" + shlex.quote("{x} $y " * 30_000 + "end")
    with capture_output():
        shell.run_cell_magic("agent", line, "hi")
    assert roles_and_contents(server.of("chat")[-1])[0] == ("system", "{x} $y " * 30_000 + "end")


def test_a_comment_ends_the_line(shell, server):
    assert list(opt.words_of("history session=a  # the first one")) == ["history", "session=a"]
    assert list(opt.words_of("system='#1 rule' x#y \\#z")) == ["system=#1 rule", "x#y", "#z"]
    with capture_output():
        shell.run_cell_magic("agent", "session=c  # a note", "hi")
    assert len(shell.run_line_magic("agent", "history session=c   # its messages")) == 2


# --- properties -------------------------------------------------------------------------

@given(ANY_LINE)
@example("system=" + "\ud800" * MB)
@example("\x00" * MB)
@example("session='" + SQL[0] + "' " * 1000)
def test_any_line_parses_or_is_a_usage_error(line):
    try:
        parsed = parse_cell(line)
    except UsageError as exc:
        assert str(exc)
        return
    assert set(parsed) <= set(CELL_OPTIONS)
    for key, value in parsed.items():
        assert value is not None, key


@given(ANY_LINE, st.sampled_from(sorted(COMMANDS)))
def test_any_line_magic_line_parses_or_is_a_usage_error(line, command):
    try:
        name, rest = opt.split_subcommand(command + " " + line, list(COMMANDS))
        opt.parse_options(rest, opt.table(COMMANDS[name].options), "usage")
    except UsageError as exc:
        assert str(exc)


@given(st.lists(st.one_of(st.text(ANY_CHAR, max_size=8), SHELLISH), max_size=12).map("".join))
def test_words_are_the_posix_words(line):
    """Our reader agrees with shlex.split (POSIX) on every line without a comment."""
    assume("#" not in line)
    try:
        expected = shlex.split(line)
    except ValueError:
        with pytest.raises(ValueError):
            list(opt.words_of(line))
        return
    assert list(opt.words_of(line)) == expected


@given(st.text(ANY_CHAR, max_size=200), st.text(ANY_CHAR, max_size=50))
def test_any_quoted_text_round_trips(system, session):
    line = "system=" + shlex.quote(system) + " session=" + shlex.quote(session)
    try:
        parsed = parse_cell(line)
    except UsageError as exc:  # the id, or a system prompt that cannot be sent
        assert "session=" in str(exc) or (
            "system=" in str(exc) and re.search("[\x00\ud800-\udfff]", system))
        return
    assert parsed == {"system": system, "session": session}


@settings(max_examples=10)
@given(st.text(ANY_CHAR, min_size=1, max_size=5))
def test_any_1mb_repetition_parses_or_is_a_usage_error(piece):
    line = "system=" + piece * (MB // len(piece))
    try:
        parse_cell(line)
    except UsageError:
        pass
