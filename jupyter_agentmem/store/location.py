"""Where the agent database lives when nobody says."""

from __future__ import annotations

import os


def default_db_path(configured: str | None = None) -> str:
    """``AGENTMEM_DB``, else the configured path, else ``<jupyter data dir>/agentmem/``.

    A ``postgresql://`` URL is returned as it is (``expanduser`` leaves it alone).
    """
    env = os.environ.get("AGENTMEM_DB")
    if env:
        return os.path.expanduser(env)
    if configured:
        return os.path.expanduser(configured)
    from jupyter_core.paths import jupyter_data_dir

    return os.path.join(jupyter_data_dir(), "agentmem", "agentmem.duckdb")
