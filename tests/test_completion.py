"""Completion after ``%%agent `` / ``%agent `` and ``%agent help`` (issue 9, point 6)."""

from __future__ import annotations

from IPython.core.completer import provisionalcompleter
from IPython.utils.capture import capture_output

from jupyter_agentmem.notebook.commands import COMMANDS
from jupyter_agentmem.notebook.magics import CELL_OPTIONS


def complete(shell, text: str) -> list[str]:
    """What IPython offers at the end of ``text``, each applied to the text."""
    with provisionalcompleter():
        found = list(shell.Completer.completions(text, len(text)))
    return sorted(text[:c.start] + c.text + text[c.end:] for c in found)


def test_subcommands_and_their_options_complete(shell):
    assert complete(shell, "%agent ") == sorted("%agent " + n for n in COMMANDS)
    assert complete(shell, "%agent hi") == ["%agent history"]
    assert complete(shell, "%agent memories ") == ["%agent memories columns=",
                                                   "%agent memories deleted=",
                                                   "%agent memories user="]
    assert complete(shell, "%agent memories deleted=o") == ["%agent memories deleted=off",
                                                            "%agent memories deleted=on"]


def test_cell_options_complete_on_the_magic_line_only(shell):
    assert complete(shell, "%%agent ") == sorted("%%agent " + n + "=" for n in CELL_OPTIONS)
    assert complete(shell, "%%agent session=a st") == ["%%agent session=a stream="]
    assert complete(shell, "%%agent format=") == ["%%agent format=code",
                                                  "%%agent format=markdown",
                                                  "%%agent format=text"]
    # An option already given is not offered again.
    assert "%%agent history=2 history=" not in complete(shell, "%%agent history=2 ")
    # In the message below the magic line, nothing of ours is offered.
    assert not any("=" in c for c in complete(shell, "%%agent \nsess"))


def test_sessions_and_users_complete_from_the_store(shell, server):
    with capture_output():
        shell.run_cell_magic("agent", "session=alpha-1", "hi")
        shell.run_cell_magic("agent", "session=alpha-2", "hi")
        shell.run_cell_magic("agent", "session=beta user=bob", "hi")
    assert complete(shell, "%%agent session=al") == ["%%agent session=alpha-1",
                                                     "%%agent session=alpha-2"]
    # Another user's sessions are offered only when that user is named.
    assert "%%agent session=beta" not in complete(shell, "%%agent session=b")
    assert complete(shell, "%%agent user=bob session=") == ["%%agent user=bob session=beta"]
    assert complete(shell, "%agent history session=alpha-2") == [
        "%agent history session=alpha-2"]
    # Other users' ids are never offered (only the notebook's user).
    assert complete(shell, "%agent memories user=") == ["%agent memories user=default"]


def test_help_lists_every_option_and_subcommand_from_the_tables(shell):
    with capture_output() as out:
        shell.run_line_magic("agent", "help")
    text = " ".join(out.stdout.split())  # the help column wraps long help text
    for option in CELL_OPTIONS.values():
        assert f" {option.name}={option.shape} " in text and option.help in text
    for command in COMMANDS.values():
        assert f" {command.name} " in text and command.help in text
        for option in command.options:
            assert f" {option.name}={option.shape} " in text


def test_unload_removes_the_completer(shell):
    shell.run_line_magic("unload_ext", "jupyter_agentmem")
    assert "%agent history" not in complete(shell, "%agent hi")
    assert shell.Completer.custom_matchers == []
    shell.run_line_magic("load_ext", "jupyter_agentmem")
    assert complete(shell, "%agent hi") == ["%agent history"]


def test_completion_reaches_a_real_kernels_complete_request(tmp_path):
    """JupyterLab asks the kernel (complete_request): the same matcher answers there."""
    import os

    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTMEM_"))}
    env["AGENTMEM_DB"] = str(tmp_path / "agentmem.duckdb")
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        reply = kc.execute_interactive("%load_ext jupyter_agentmem", timeout=60)
        assert reply["content"]["status"] == "ok"
        msg_id = kc.complete("%%agent session=x st\nhello", 20)
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id
        content = reply["content"]
        assert content["matches"] == ["stream="]
        assert (content["cursor_start"], content["cursor_end"]) == (18, 20)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
