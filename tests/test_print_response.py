"""``print_response`` in a terminal draws phidata's panels (exactly, for all 8 combinations of
stream / markdown / show_message, compared with phidata 2.7.10's recorded output), and
``debug_mode=True`` logs the messages sent, the tokens and the memory work."""

from __future__ import annotations

import io
import logging
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from model_server import Reply
from rich.console import Console

from jupyter_agentmem import Agent, AgentMemory

FIXTURES = Path(__file__).parent / "fixtures" / "phidata"
MARKDOWN_DEMO = ("# Markdown demo\n\nHere is a **bold** word, some `code` and a list:\n\n"
                 "- first item\n- second item\n\n```python\nprint('hi')\n```")


def phidata_frames() -> dict[tuple[bool, bool, bool], str]:
    """phidata's final frames, by (stream, markdown, show_message), for our rich major."""
    major = int(version("rich").split(".")[0])
    name = "print_response_plain_rich15.out" if major >= 15 else "print_response_plain.out"
    text = (FIXTURES / name).read_text()
    frames = {}
    for header, body in re.findall(r"===== (.*?) \(agent.markdown.*?=====\n(.*?)(?=\n=====|\Z)",
                                   text, re.S):
        flags = dict(part.split("=") for part in header.split())
        key = tuple(flags[k] == "True" for k in ("stream", "markdown", "show_message"))
        frames[key] = body.rstrip("\n")
    return frames


def timeless(text: str) -> str:
    return re.sub(r"Response \(\d+\.\ds\) ━*", "Response (T) ", text).rstrip("\n")


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("markdown", [False, True])
@pytest.mark.parametrize("show_message", [True, False])
def test_panels_match_phidata(server, model, stream, markdown, show_message):
    expected = phidata_frames()[(stream, markdown, show_message)]
    server.script(Reply(content=MARKDOWN_DEMO), kind="chat")
    console = Console(record=True, width=100, file=io.StringIO())
    Agent(model=model).print_response("Show me some markdown please", stream=stream,
                                      markdown=markdown, show_message=show_message,
                                      console=console)
    assert timeless(console.export_text()) == timeless(expected)


def test_debug_mode_logs_messages_tokens_and_memory_work(server, model, caplog):
    server.script(Reply(tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "Ana likes tea.", "topics": []}}]), kind="memory")
    agent = Agent(model=model, memory=AgentMemory(create_user_memories=True,
                                                  create_session_summary=True),
                  description="You are terse.", debug_mode=True, user_id="ana")
    try:
        with caplog.at_level(logging.DEBUG, logger="jupyter_agentmem"):
            agent.run("I like tea")
            assert agent.memory.wait(10)
        lines = "\n".join(r.getMessage() for r in caplog.records)
        assert "============== system ==============\nYou are terse." in lines
        assert "============== user ==============\nI like tea" in lines
        assert "============== assistant ==============\necho: I like tea" in lines
        assert re.search(r"\* Tokens:  input=\d+, output=\d+", lines)
        assert "Updating memories of user ana" in lines and "Memories: memories +1" in lines
        assert "Updating the summary of session" in lines and "Summary v1: " in lines
    finally:
        logging.getLogger("jupyter_agentmem").setLevel(logging.NOTSET)


# --- print_response in a notebook: the same boxes, as HTML updated while it streams ------

def kernel_displays(client, code: str) -> list[dict]:
    """The display messages (display_data, update_display_data) one execution sent."""
    messages: list[dict] = []
    reply = client.execute_interactive(code, output_hook=messages.append, timeout=120)
    assert reply["content"]["status"] == "ok", reply["content"]
    kinds = {m["msg_type"] for m in messages} - {"status", "execute_input"}
    assert kinds <= {"display_data", "update_display_data"}, kinds  # nothing printed as text
    return [m for m in messages if m["msg_type"] in ("display_data", "update_display_data")]


def footer_of(html: str) -> str:
    return re.findall(r'<div style="color: var\(--jp-content-font-color2[^>]*>(.*?)</div>',
                      html)[-1]


def test_print_response_in_a_kernel_draws_the_boxes_and_updates_them(server, tmp_path):
    import os

    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTMEM_"))}
    env.update(AGENTMEM_DB=str(tmp_path / "agentmem.duckdb"), OPENAI_API_KEY="sk-test-secret",
               OPENAI_BASE_URL=server.base_url)
    server.script(Reply(content=MARKDOWN_DEMO, chunk_delay=0.05), kind="chat")
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        shown = kernel_displays(kc, (
            "from jupyter_agentmem import Agent, OpenAIChat\n"
            "agent = Agent(model=OpenAIChat(id='test-model', max_retries=0), session_id='pr')\n"
            "agent.print_response('Show me some <b>markdown</b> please', stream=True, "
            "markdown=True)"))
        first, *updates = [m["content"]["data"]["text/html"] for m in shown]
        assert shown[0]["msg_type"] == "display_data"
        assert {m["msg_type"] for m in shown[1:]} == {"update_display_data"}
        ids = {m["content"]["transient"]["display_id"] for m in shown}
        assert len(ids) == 1  # one display, updated in place
        # At once: the message (its HTML shown as text) and "Thinking...".
        assert "<legend" in first and ">Message</legend>" in first
        assert "Show me some &lt;b&gt;markdown&lt;/b&gt; please" in first
        assert "Thinking…" in first and re.search(r">Response \(\d+\.\ds\)</legend>", first)
        # While it streams: the reply grows, rendered as Markdown.
        partial = [u for u in updates[:-1] if "<h1>Markdown demo</h1>" in u]
        assert partial and "print(" not in partial[0]
        # At the end: the whole reply, and a footer without raw backticks.
        final = updates[-1]
        assert "<strong>bold</strong>" in final and "<code>code</code>" in final
        assert 'language-python">print(\'hi\')' in final
        footer = footer_of(final)
        assert re.fullmatch(r"session pr · test-model · \d+ ms · \d+ in / \d+ out tokens",
                            footer), footer
        assert "var(--jp-brand-color1" in final and "var(--jp-error-color1" not in final
        plain = shown[-1]["content"]["data"]["text/plain"]
        assert plain.startswith("Message: Show me some <b>markdown</b> please\n\nResponse (")
        assert "`" not in plain.split("\n-- ")[-1]

        # The demo model, plain text: its notice is shown (not taken for markup).
        shown = kernel_displays(kc, (
            "from jupyter_agentmem.model.demo import demo_model\n"
            "Agent(model=demo_model()).print_response('hello')"))
        final = shown[-1]["content"]["data"]["text/html"]
        assert "[demo model: a scripted echo, not an LLM]\n\nYou said: hello" in final

        # A server that cannot be reached: the reason, in a red box.
        shown = kernel_displays(kc, (
            "Agent(model=OpenAIChat(id='m', base_url='http://127.0.0.1:9/v1', max_retries=0))"
            ".print_response('anyone?')"))
        final = shown[-1]["content"]["data"]["text/html"]
        assert "var(--jp-error-color1" in final
        assert ("Model error (error): Could not reach the model server at "
                "http://127.0.0.1:9/v1 ([Errno 111] Connection refused).") in final
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
