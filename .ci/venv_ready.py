"""Exit 0 when .venv already holds what `pip install -e ".[test]"` would install here.

The README's first command makes .venv and installs this checkout with its test extras;
.ci/run then reuses that venv instead of installing it again. Reused only when every
requirement of pyproject.toml (dependencies and the test extra, read now, so an edited
pyproject installs again) is installed at a version it allows, and jupyter_agentmem is
an editable install of this very checkout. Anything else (a clean clone: no .venv; a
missing or old package; another checkout's install) exits 1 and .ci/run installs.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit


def problems(root: Path) -> list[str]:
    import tomllib  # Python 3.11+; on 3.10 the ImportError means: install
    from packaging.requirements import Requirement

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    found = []
    try:
        direct = json.loads(metadata.distribution("jupyter_agentmem").read_text(
            "direct_url.json") or "{}")
    except metadata.PackageNotFoundError:
        return ["jupyter_agentmem is not installed"]
    url = urlsplit(direct.get("url", ""))
    if not direct.get("dir_info", {}).get("editable") or (
            Path(unquote(url.path)).resolve() != root.resolve()):
        found.append(f"jupyter_agentmem is not an editable install of {root}")
    queue = [(Requirement(line), "") for line in wanted]
    while queue:
        requirement, extra = queue.pop()
        if requirement.marker is not None and not requirement.marker.evaluate(
                {"extra": extra}):
            continue
        try:
            have = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            found.append(f"{requirement.name} is not installed")
            continue
        if not requirement.specifier.contains(have, prereleases=True):
            found.append(f"{requirement.name} {have} is not {requirement.specifier}")
        for wanted_extra in requirement.extras:  # psycopg[binary]: psycopg-binary too
            queue += [(Requirement(dep), wanted_extra)
                      for dep in metadata.requires(requirement.name) or []
                      if "extra" in dep]
    return found


if __name__ == "__main__":
    try:
        missing = problems(Path(sys.argv[1]))
    except Exception as exc:  # noqa: BLE001 (any doubt: install)
        missing = [f"cannot tell ({type(exc).__name__}: {exc})"]
    for line in missing:
        print(f".venv: {line}", file=sys.stderr)
    sys.exit(1 if missing else 0)
