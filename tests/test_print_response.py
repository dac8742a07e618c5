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
