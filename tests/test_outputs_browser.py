"""What each ``%agent`` output looks like in JupyterLab, light and dark theme (issue 18).

A notebook shows every output over a database of two weeks (tests/sample_outputs.py):
history, memories, summary, sessions, search, context and usage with its charts. Run
All in JupyterLab (headless Chromium), then each output is photographed in the light
theme and again in the dark one, into $AGENTMEM_SHOTS (default tests/artifacts/outputs),
and checked as a user sees it: no id wider than 8 characters, no literal ``\\n``, the
search words marked, text left-aligned, nothing of bob's in ana's outputs, text that
stands out from its background in both themes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from sample_outputs import BOB_WORDS, TRIP_NAME, seed
from test_panel_browser import ARTIFACTS, TOKEN, browser, lab, read_file, wait_for  # noqa: F401

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("AGENTMEM_SHOTS", ARTIFACTS / "outputs"))
UUID_PIECE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}|[0-9a-f]{32}", re.I)

# (name, cell): one output each, photographed by name.
CELLS = [
    ("setup", "%load_ext jupyter_agentmem\n%config AgentMagics.model = 'gpt-4o-mini'\n"
              "%config AgentMagics.user = 'ana'\n%matplotlib inline"),
    ("history", "%agent history session=lisbon-trip"),
    ("memories", "%agent memories"),
    ("summary", "%agent summary session=lisbon-trip"),
    ("sessions", "%agent sessions"),
    ("search", "%agent search tea"),
    ("context", "%agent context session=lisbon-trip"),
    ("usage", "%agent usage"),
    ("usage_by_session", "%agent usage by=session plot=on"),
    ("usage_by_day", "%agent usage by=day plot=on"),
    ("usage_by_model", "%agent usage by=model plot=on prices=llama3:8b:0.05/0.08"),
    ("history_all", "%agent history session=lisbon-trip columns=all"),
]
NAMES = [name for name, _ in CELLS]

JS_STATE = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.content || !nb.sessionContext || !nb.sessionContext.session
      || nb.context.path !== 'outputs.ipynb') return null;
  const kernel = nb.sessionContext.session.kernel;
  const cells = nb.content.widgets.filter(c => c.model.type === 'code');
  return {status: kernel ? kernel.status : 'none',
          counts: cells.map(c => c.model.executionCount)};
}"""

# Text colour against the colour behind it (WCAG contrast ratio), for each text cell.
JS_CONTRAST = """(root) => {
  const rgb = s => (s.match(/[0-9.]+/g) || []).map(Number);
  const lum = c => {
    const [r, g, b] = c.slice(0, 3).map(v => v / 255).map(
      v => v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const behind = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const worst = {ratio: 99, text: ''};
  for (const el of root.querySelectorAll('td, th, .agentmem-plain, .agentmem-md, caption,'
                                         + ' .agentmem-caption, .agentmem-legend, summary')) {
    if (!el.innerText.trim()) continue;
    const fg = rgb(getComputedStyle(el).color), bg = behind(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < worst.ratio) { worst.ratio = ratio; worst.text = el.innerText.slice(0, 40); }
  }
  return worst;
}"""

JS_ALIGN = """(root) => [...root.querySelectorAll('td')].filter(td => td.innerText.trim())
  .map(td => [td.innerText.slice(0, 30), getComputedStyle(td).textAlign])"""


def set_theme(page, theme: str) -> None:
    """JupyterLab's light or dark theme (the lab's settings keep the last one chosen)."""
    name = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}[theme]
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', "
                  f"{{theme: '{name}'}})")
    light = "true" if theme == "light" else "false"
    wait_for(page, lambda: page.evaluate("() => document.body.dataset.jpThemeLight") == light,
             30, f"the {theme} theme")
    page.wait_for_timeout(1500)


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for _, c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(path))


def output_of(page, name: str):
    """The outputs of the cell ``name`` (a chart and its table are two outputs)."""
    return page.locator(".jp-Notebook .jp-CodeCell").nth(NAMES.index(name)).locator(
        ".jp-OutputArea").first


def photograph(page, theme: str) -> None:
    for name in NAMES[1:]:
        out = output_of(page, name)
        out.scroll_into_view_if_needed()
        page.wait_for_timeout(150)
        out.screenshot(path=str(SHOTS / f"{name}_{theme}.png"))


def check_what_a_user_sees(page, theme: str) -> None:
    texts = {name: output_of(page, name).inner_text() for name in NAMES[1:]}
    for name, text in texts.items():
        if name != "history_all":  # columns=all: every id whole, on purpose
            assert not UUID_PIECE.search(text), (name, UUID_PIECE.search(text))
        assert "\\n" not in text, name
        assert BOB_WORDS not in text and "bob" not in text.lower(), name
        worst = output_of(page, name).evaluate(JS_CONTRAST)
        assert worst["ratio"] >= 4.5, (theme, name, worst)  # WCAG AA for body text
    history = output_of(page, "history")
    assert history.locator(".agentmem-badge", has_text="failed").count() == 1
    assert history.locator(".agentmem-badge", has_text="interrupted").count() == 1
    assert history.locator(".agentmem-md strong", has_text="Day one").count() == 1
    lines = history.locator(".agentmem-plain").first.inner_text().split("\n")
    assert lines == ["I'm planning a weekend in Lisbon in May.",
                     "I love green tea and azulejo tiles."]  # a real line break
    marks = output_of(page, "search").locator("mark").all_inner_texts()
    assert marks and {m.lower() for m in marks} == {"tea"}
    for name in ("memories", "search", "usage"):
        aligned = output_of(page, name).evaluate(JS_ALIGN)
        text_cells = [a for t, a in aligned if re.search(r"[a-z]{4}", t)]
        assert text_cells and set(text_cells) == {"left"}, (name, aligned)
    assert TRIP_NAME in texts["usage_by_session"]
    for name in NAMES[1:]:
        charts = output_of(page, name).locator("img").count()
        assert charts == (1 if name.startswith("usage_by") else 0), name
    assert "$" in texts["usage_by_model"] and "no price" not in texts["usage_by_model"]


def test_every_output_in_light_and_dark(lab, browser):  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    read_file(lab["db"], seed)
    write_notebook(lab["root"] / "outputs.ipynb")
    # A tall window: an output photographed whole (a screenshot is cut at the window).
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    try:
        page.goto(f"{lab['url']}/lab/workspaces/outputs/tree/outputs.ipynb?token={TOKEN}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        wait_for(page, lambda: (page.evaluate(JS_STATE) or {}).get("status") == "idle", 60,
                 "an idle kernel")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        wait_for(page, lambda: all(c is not None for c in (
            page.evaluate(JS_STATE) or {"counts": [None]})["counts"]), 180, "Run All")
        wait_for(page, lambda: (page.evaluate(JS_STATE) or {}).get("status") == "idle", 60,
                 "the kernel to be idle")
        errors = page.locator(".jp-OutputArea-output[data-mime-type*='error']")
        assert errors.count() == 0, errors.first.inner_text()
        for theme in ("light", "dark"):
            set_theme(page, theme)
            photograph(page, theme)
            check_what_a_user_sees(page, theme)
    except BaseException:
        page.screenshot(path=str(SHOTS / "failure.png"), full_page=True)
        raise
    finally:
        page.close()


USAGE_NOTEBOOK = Path(__file__).parent.parent / "notebooks" / "usage.ipynb"
JS_USAGE_STATE = JS_STATE.replace("'outputs.ipynb'", "'usage.ipynb'")


def test_the_usage_notebook_in_light_and_dark(lab, browser):  # noqa: F811
    """notebooks/usage.ipynb, Run All: its charts and tables, photographed in both themes."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    (lab["root"] / "usage.ipynb").write_bytes(USAGE_NOTEBOOK.read_bytes())
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    try:
        page.goto(f"{lab['url']}/lab/workspaces/usage/tree/usage.ipynb?token={TOKEN}")
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
        wait_for(page, lambda: (page.evaluate(JS_USAGE_STATE) or {}).get("status") == "idle",
                 60, "an idle kernel")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        wait_for(page, lambda: all(c is not None for c in (
            page.evaluate(JS_USAGE_STATE) or {"counts": [None]})["counts"]), 180, "Run All")
        wait_for(page, lambda: (page.evaluate(JS_USAGE_STATE) or {}).get("status") == "idle",
                 60, "the kernel to be idle")
        assert page.locator(".jp-OutputArea-output[data-mime-type*='error']").count() == 0
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        sources = [c.locator(".cm-content").inner_text() for c in cells.all()]
        shots = {"usage_nb_ledger": "%agent usage",
                 "usage_nb_by_session": "%agent usage by=session plot=on",
                 "usage_nb_by_day": "%agent usage by=day plot=on",
                 "usage_nb_by_model": "%agent usage by=model plot=on prices=demo:0.15/0.60"}
        for theme in ("light", "dark"):
            set_theme(page, theme)
            for name, source in shots.items():
                area = cells.nth(sources.index(source)).locator(".jp-OutputArea").first
                area.scroll_into_view_if_needed()
                page.wait_for_timeout(150)
                area.screenshot(path=str(SHOTS / f"{name}_{theme}.png"))
                text = area.inner_text()
                assert not UUID_PIECE.search(text) and "surprise" not in text, (name, text)
                charts = area.locator("img").count()
                assert charts == (0 if name == "usage_nb_ledger" else 1), name
                assert area.evaluate(JS_CONTRAST)["ratio"] >= 4.5, (theme, name)
    except BaseException:
        page.screenshot(path=str(SHOTS / "usage_failure.png"), full_page=True)
        raise
    finally:
        page.close()
