"""The README's first command ends in ``python -m jupyter_agentmem quickstart``: it must work
offline, with no key, and resume the session from a second process."""

from __future__ import annotations

import os
import subprocess
import sys


def test_quickstart_runs_offline_and_resumes(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AGENTMEM_DB")}
    env["COLUMNS"] = "300"  # rich's panels: wide enough that no reply line wraps
    db = tmp_path / "q.duckdb"
    out = subprocess.run([sys.executable, "-m", "jupyter_agentmem", "quickstart", "--db",
                          str(db)], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "using the offline demo model" in text
    assert "not an LLM" in text
    assert "┏━ Message ━" in text and "┏━ Response (" in text  # phidata's panels
    # The demo notice is in both Response panels (rich took it for a markup tag: 3 blank
    # lines where a new user looks for it).
    panel_lines = [line.strip("┃ ") for line in text.splitlines() if line.startswith("┃")]
    assert panel_lines.count("[demo model: a scripted echo, not an LLM]") == 2
    # The second process was sent the first process's run as history.
    assert "the first was: Share a 2 sentence horror story" in text
    assert text.count(" user ") == 2 and text.count(" assistant ") == 2
    assert db.exists()
