"""The wheel carries the licence text (pyproject says BSD-3-Clause: its text must travel
with the code) and nothing of the tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_the_wheel_ships_the_license(tmp_path):
    source = tmp_path / "src"  # a copy: building in place leaves build/ and egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "jupyter_agentmem", source / "jupyter_agentmem",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                          "-q", "-w", str(tmp_path / "wheel")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = (tmp_path / "wheel").glob("jupyter_agentmem-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        assert z.read(license_file).decode() == (ROOT / "LICENSE").read_text()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "License-File: LICENSE" in metadata
    assert (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause License\n")
    assert not any(n.startswith("tests/") for n in names)
