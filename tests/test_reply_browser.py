"""``print_response`` in JupyterLab (headless Chromium): phidata's Message and Response
boxes, drawn as HTML while the reply streams, readable in the light and the dark theme.
Screenshots go to tests/artifacts/print_response_*.png."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from model_server import Reply
from test_panel_browser import ARTIFACTS, TOKEN, browser, lab, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

MARKDOWN_DEMO = ("# Markdown demo\n\nHere is a **bold** word, some `code` and a list:\n\n"
                 "- first item\n- second item\n\n```python\nprint('hi')\n```")
CELLS = [
    "from jupyter_agentmem import Agent, OpenAIChat\n"
    "agent = Agent(model=OpenAIChat(id='test-model', max_retries=0), session_id='boxes',\n"
    "              markdown=True)",
    "agent.print_response('Show me some markdown please', stream=True)",
    "from jupyter_agentmem.model.demo import demo_model\n"
    "Agent(model=demo_model(), session_id='demo').print_response('hello', stream=True)",
    "Agent(model=OpenAIChat(id='m', base_url='http://127.0.0.1:9/v1', max_retries=0))"
    ".print_response('anyone there?')",
]

# What the boxes show, as the browser computed it.
JS_BOXES = """() => [...document.querySelectorAll('.agentmem-panels')].map(p => ({
  legends: [...p.querySelectorAll('legend')].map(l => ({
      text: l.textContent, color: getComputedStyle(l).color,
      border: getComputedStyle(l.parentElement).borderTopColor})),
  body: [...p.querySelectorAll('fieldset')].map(f => f.lastElementChild.innerText),
  bodyColor: [...p.querySelectorAll('fieldset')].map(
      f => getComputedStyle(f.lastElementChild).color),
  footer: p.lastElementChild.tagName === 'DIV' ? p.lastElementChild.innerText : null,
  background: getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor,
  pre: p.querySelector('pre') ? getComputedStyle(p.querySelector('pre')).backgroundColor
                              : null,
  preCode: p.querySelector('pre code')
      ? getComputedStyle(p.querySelector('pre code')).backgroundColor : null,
}))"""


JS_KERNEL = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const session = nb && nb.sessionContext && nb.sessionContext.session;
  return session && session.kernel ? session.kernel.status : null;
}"""


def run_next_cell(page) -> None:
    page.keyboard.press("Shift+Enter")


def test_print_response_boxes_in_light_and_dark(lab, server, browser):  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(lab["root"] / "boxes.ipynb"))
    server.script(Reply(content=MARKDOWN_DEMO, chunk_delay=0.4))  # ~3.6 s of streaming
    page = browser.new_page(viewport={"width": 1100, "height": 1300})
    try:
        page.goto(f"{lab['url']}/lab/workspaces/boxes/tree/boxes.ipynb?token={TOKEN}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        wait_for(page, lambda: page.evaluate(JS_KERNEL) == "idle", 90, "an idle kernel")
        page.locator(".jp-Cell .cm-content").first.click()
        run_next_cell(page)
        run_next_cell(page)

        # While it streams: the boxes are there, the reply is partly shown.
        page.locator(".agentmem-panels h1", has_text="Markdown demo").wait_for(timeout=60_000)
        boxes = page.evaluate(JS_BOXES)[0]
        assert [legend["text"] for legend in boxes["legends"]][0] == "Message"
        assert re.fullmatch(r"Response \(\d+\.\ds\)", boxes["legends"][1]["text"])
        assert "print('hi')" not in boxes["body"][1] and boxes["footer"] is None
        page.locator(".jp-NotebookPanel").screenshot(
            path=str(ARTIFACTS / "print_response_streaming.png"))

        page.locator(".agentmem-panels code", has_text="print('hi')").wait_for(
            timeout=60_000)
        run_next_cell(page)
        page.get_by_text("You said: hello").first.wait_for(timeout=60_000)
        run_next_cell(page)
        page.get_by_text("Could not reach the model server").first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        light = page.evaluate(JS_BOXES)
        page.locator(".jp-NotebookPanel").screenshot(
            path=str(ARTIFACTS / "print_response_light.png"))

        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', "
                      "{theme: 'JupyterLab Dark'})")
        wait_for(page, lambda: page.evaluate(
            "() => document.body.dataset.jpThemeLight") == "false", 30, "the dark theme")
        page.wait_for_timeout(1000)
        dark = page.evaluate(JS_BOXES)
        page.locator(".jp-NotebookPanel").screenshot(
            path=str(ARTIFACTS / "print_response_dark.png"))
    except BaseException:
        page.screenshot(path=str(ARTIFACTS / "print_response_failure.png"), full_page=True)
        print(Path(lab["log"]).read_text()[-5000:])
        raise
    finally:
        page.close()

    markdown, demo, failed = light
    assert [legend["text"] for legend in markdown["legends"]][0] == "Message"
    assert markdown["body"][0] == "Show me some markdown please"
    assert "Here is a bold word, some code and a list:" in markdown["body"][1]
    assert re.fullmatch(r"session boxes · test-model · \d+ ms · \d+ in / \d+ out tokens",
                        markdown["footer"]), markdown["footer"]
    assert demo["body"][1].startswith("[demo model: a scripted echo, not an LLM]\n")
    assert failed["body"][1].startswith("Model error (error): Could not reach the model "
                                        "server at http://127.0.0.1:9/v1")
    for shown in (markdown, demo, failed):
        assert "`" not in (shown["footer"] or "") and "**" not in "".join(shown["body"])
    # phidata's colours, taken from the theme: cyan Message, blue Response, red failure.
    assert markdown["legends"][0]["color"] == "rgb(0, 151, 167)"  # --jp-info-color1
    assert markdown["legends"][1]["border"] == "rgb(25, 118, 210)"  # --jp-brand-color1
    assert failed["legends"][1]["border"] == "rgb(211, 47, 47)"  # --jp-error-color1
    assert markdown["bodyColor"][0] == "rgb(56, 142, 60)"  # --jp-success-color1
    # The dark theme's own shades: light text on a dark page, brighter borders.
    d_markdown, _, d_failed = dark
    assert d_markdown["background"] != markdown["background"]
    assert d_markdown["legends"][0]["color"] == "rgb(0, 188, 212)"
    assert d_markdown["legends"][1]["border"] == "rgb(33, 150, 243)"
    assert d_failed["legends"][1]["border"] == "rgb(244, 67, 54)"
    assert d_markdown["bodyColor"][1] == "rgb(255, 255, 255)"
    assert markdown["bodyColor"][1] == "rgba(0, 0, 0, 0.87)"
    # A code block is set apart from the page in both themes.
    assert (markdown["pre"], d_markdown["pre"]) == ("rgb(238, 238, 238)", "rgb(66, 66, 66)")
    assert markdown["preCode"] == d_markdown["preCode"] == "rgba(0, 0, 0, 0)"  # one block
