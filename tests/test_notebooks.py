"""The notebooks in notebooks/ run with nbclient: against the test server, and offline."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from model_server import roles_and_contents
from nbclient import NotebookClient

from jupyter_agentmem.store import DuckDbStore

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
KEY = "sk-nb-secret-4f9a2c"
DESCRIPTION = ("You are a helpful assistant that always responds in a polite, upbeat and "
               "positive manner.")


def execute(name: str, tmp_path: Path, base_url: str | None,
            work: str = "work") -> nbformat.NotebookNode:
    work_dir = tmp_path / work
    work_dir.mkdir()
    shutil.copy(NOTEBOOKS / f"{name}.ipynb", work_dir)
    nb = nbformat.read(work_dir / f"{name}.ipynb", as_version=4)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "AGENTMEM_"))}
    env["AGENTMEM_DB"] = str(tmp_path / "agentmem.duckdb")
    env["IPYTHONDIR"] = str(tmp_path / "ipython")  # %store writes in the profile
    if base_url:
        env.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY=KEY)
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(work_dir)}}).execute(env=env)
    return nb


def outputs(nb, starts: str) -> list[str]:
    """The text of the outputs of the one code cell whose source starts with ``starts``."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith(starts)]
    texts = []
    for out in cell.outputs:
        assert out.output_type != "error", out
        texts.append(out.get("text") or out.get("data", {}).get("text/plain", ""))
    return texts


def assert_no_key(nb) -> None:
    assert KEY not in json.dumps(nb)


def assert_key_was_sent(server) -> None:
    sent = {v for r in server.requests for k, v in r["headers"].items()
            if k.lower() == "authorization"}
    assert sent == {f"Bearer {KEY}"}


QUICKSTART_CELLS = ("%%agent\nShare", "%%agent\nWhat was", "%%agent\nWhat have")


def reply_of(text: str) -> str:
    """A reply's text without its footer (the session id, the time, the tokens)."""
    return text.split("\n\n-- ")[0]


def quickstart_session(nb) -> str:
    (printed,) = outputs(nb, "print(f\"After a restart")
    return printed.strip().rsplit("session=", 1)[1]


def test_quickstart(server, tmp_path):
    nb = execute("quickstart", tmp_path, server.base_url)
    assert_no_key(nb)
    assert_key_was_sent(server)
    chats = server.of("chat")
    assert [b["model"] for b in chats] == ["gpt-4o-mini"] * 3
    assert roles_and_contents(chats[-1]) == [
        ("user", "Share a 2 sentence horror story"),
        ("assistant", "echo: Share a 2 sentence horror story"),
        ("user", "What was my first message?"),
        ("assistant", "echo: What was my first message?"),
        ("user", "What have we talked about so far?")]
    session = quickstart_session(nb)
    assert session.startswith("quickstart-")
    (first,) = outputs(nb, "%%agent\nShare")
    assert first.startswith("echo: Share a 2 sentence horror story")
    assert f"\n\n-- session {session} · gpt-4o-mini · " in first
    (resumed,) = outputs(nb, "%%agent\nWhat have")  # after %store -r, in the same session
    assert resumed.startswith("echo: What have we talked about so far?")
    assert f"-- session {session} · " in resumed
    (history,) = outputs(nb, "history = %agent history")
    assert "What have we talked about so far?" in history and "run" in history
    outputs(nb, "%agent sessions")  # ran without an error
    store = DuckDbStore(str(tmp_path / "agentmem.duckdb"))
    assert [(r.seq, r.status, len(r.messages)) for r in store.session_runs(session)] == [
        (0, "ok", 2), (1, "ok", 2), (2, "ok", 2)]
    store.close()


def test_quickstart_offline_with_the_demo_model(server, tmp_path):
    nb = execute("quickstart", tmp_path, None)
    assert server.requests == []
    (first,) = outputs(nb, "%%agent\nShare")
    assert reply_of(first) == ("[demo model: a scripted echo, not an LLM]\n\n"
                               "You said: Share a 2 sentence horror story\n\n"
                               "I was sent no earlier messages of this session.")
    (second,) = outputs(nb, "%%agent\nWhat was")
    assert "[demo model: a scripted echo, not an LLM]" in second
    assert "the first was: Share a 2 sentence horror story" in second
    (resumed,) = outputs(nb, "%%agent\nWhat have")
    assert "I was sent 2 earlier message(s)" in resumed


def test_quickstart_run_twice_on_one_database_gives_the_same_conversation(server, tmp_path):
    """A second run went on with the first run's session: its first cell's reply said it
    was sent the later cells' messages. Each run is now a conversation of its own."""
    runs = [execute("quickstart", tmp_path, None, work=f"run{i}") for i in (1, 2)]
    replies = [[reply_of(outputs(nb, cell)[0]) for cell in QUICKSTART_CELLS] for nb in runs]
    assert replies[0] == replies[1]
    assert replies[0][0].endswith("I was sent no earlier messages of this session.")
    assert "I was sent 2 earlier message(s)" in replies[1][2]
    sessions = [quickstart_session(nb) for nb in runs]
    assert sessions[0] != sessions[1]
    store = DuckDbStore(str(tmp_path / "agentmem.duckdb"))
    for session in sessions:  # both conversations stored whole, side by side
        assert [r.messages[0].content for r in store.session_runs(session)] == [
            "Share a 2 sentence horror story", "What was my first message?",
            "What have we talked about so far?"]
    store.close()


def test_builtin_memory(server, tmp_path):
    nb = execute("builtin_memory", tmp_path, server.base_url)
    assert_no_key(nb)
    assert_key_was_sent(server)
    first, second = server.of("chat")
    assert first["model"] == "gpt-4o"
    assert roles_and_contents(second) == [
        ("system", DESCRIPTION),
        ("user", "Share a 2 sentence horror story"),
        ("assistant", "echo: Share a 2 sentence horror story"),
        ("user", "What was my first message?")]
    (reply,) = outputs(nb, "# -*- Ask a follow up")  # print_response: phidata's boxes
    assert re.fullmatch(r"Message: What was my first message\?\n\nResponse \(\d+\.\ds\):\n"
                        r"echo: What was my first message\?\n\n-- session \S+ · gpt-4o · .*",
                        reply), reply
    after_one, after_two = [ast.literal_eval(c.outputs[0]["data"]["text/plain"])
                            for c in nb.cells if c.source.startswith("# -*- The messages")]
    assert after_one == [
        {"role": "system", "content": DESCRIPTION},
        {"role": "user", "content": "Share a 2 sentence horror story"},
        {"role": "assistant", "content": "echo: Share a 2 sentence horror story"}]
    assert after_two == after_one + [
        {"role": "user", "content": "What was my first message?"},
        {"role": "assistant", "content": "echo: What was my first message?"}]


def test_persistent_memory(server, tmp_path):
    nb = execute("persistent_memory", tmp_path, server.base_url)
    assert_no_key(nb)
    assert_key_was_sent(server)
    (printed,) = outputs(nb, "agent = Agent(")
    session_id = printed.removeprefix("session_id:").strip()
    said = ["My name is John Billings", "I live in NYC", "I'm going to a concert tomorrow",
            "Share a 2 sentence horror story"]
    chats = server.of("chat")
    assert len(chats) == 5
    window = [(role, ("echo: " if role == "assistant" else "") + text)
              for text in said[1:] for role in ("user", "assistant")]
    assert roles_and_contents(chats[-1]) == [
        ("system", DESCRIPTION), *window, ("user", "What was my first message?")]
    (messages,) = outputs(nb, "[m.model_dump")
    assert ast.literal_eval(messages) == [{"role": "system", "content": DESCRIPTION}] + [
        {"role": role, "content": ("echo: " if role == "assistant" else "") + text}
        for text in [*said, "What was my first message?"] for role in ("user", "assistant")]
    assert outputs(nb, "len(resumed.memory.runs)") == ["5"]
    store = DuckDbStore(str(tmp_path / "work" / "tmp" / "agent.duckdb"))
    runs = store.session_runs(session_id)
    assert [r.messages[0].content for r in runs] == [*said, "What was my first message?"]
    store.close()


def cell_of(nb, first_line: str):
    (cell,) = [c for c in nb.cells
               if c.cell_type == "code" and c.source.split("\n")[0] == first_line]
    assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
    return cell


def html_outputs(nb, first_line: str) -> list[str]:
    """The HTML outputs of the one code cell whose first line is ``first_line``."""
    return [o["data"]["text/html"] for o in cell_of(nb, first_line).outputs
            if "text/html" in o.get("data", {})]


def charts(nb, first_line: str) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell_of(nb, first_line).outputs)


def test_usage_notebook_shows_the_users_calls_costs_and_charts(server, tmp_path):
    nb = execute("usage", tmp_path, None)
    assert server.requests == []  # the demo model: offline
    (ledger,) = html_outputs(nb, "%agent usage")
    shown = re.sub(r"<style.*?</style>|<[^>]+>", "", ledger, flags=re.S)
    assert "model calls of user ana" in shown
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}", shown)  # ids cut to 8 characters
    everything = json.dumps([c.get("outputs", []) for c in nb.cells
                             if "user=bob" not in c.source])
    assert "surprise" not in everything and "bob-notes" not in everything
    for line in ("%agent usage by=session plot=on", "%agent usage by=day plot=on",
                 "%agent usage by=model plot=on prices=demo:0.15/0.60"):
        assert charts(nb, line) == 1, line
    (by_session,) = html_outputs(nb, "%agent usage by=session plot=on")
    assert "Lisbon weekend" in by_session and "$" in by_session  # gpt-4o's list price
    (by_model,) = html_outputs(nb, "%agent usage by=model plot=on prices=demo:0.15/0.60")
    assert "no price" not in by_model  # prices=demo:... given
    (sums,) = outputs(nb, "calls = %agent usage")
    assert "cost_usd" in sums


@pytest.mark.parametrize("name", ["quickstart", "builtin_memory", "persistent_memory",
                                  "usage"])
def test_notebooks_are_stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
