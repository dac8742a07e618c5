"""Fixtures: a scripted model server, a fresh DuckDB file and an IPython shell per test."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from model_server import ScriptedServer  # noqa: E402


@pytest.fixture(scope="session")
def _server():
    server = ScriptedServer().start()
    yield server
    server.stop()


@pytest.fixture
def server(_server):
    """The scripted server, reset for this test."""
    from jupyter_agentmem import runtime
    from jupyter_agentmem.memory import take_failures

    _server.reset()
    yield _server
    # Background memory work of this test must not eat the next test's scripted replies.
    assert runtime.idle(30), "background memory work did not finish"
    take_failures()
    _server.reset()


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL server of our own on 127.0.0.1, for the whole test session."""
    from pg_server import PgServer

    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh PostgreSQL database for this test."""
    return pg_server.new_database()


@pytest.fixture(params=["duckdb", "sqlite", "postgres"])
def any_store_location(request, tmp_path) -> str:
    """The same test against a DuckDB file, a SQLite file and a PostgreSQL database."""
    if request.param == "duckdb":
        return str(tmp_path / "agentmem.duckdb")
    if request.param == "sqlite":
        return "sqlite://" + str(tmp_path / "agentmem.sqlite")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def db_path(tmp_path) -> str:
    """A fresh DuckDB file for this test."""
    return str(tmp_path / "agentmem.duckdb")


@pytest.fixture
def model(server):
    from jupyter_agentmem import OpenAIChat

    return OpenAIChat(id="test-model", base_url=server.base_url, api_key="sk-test-secret",
                      max_retries=0, timeout=10)


@pytest.fixture
def shell(server, db_path, monkeypatch):
    """An IPython shell with the extension loaded against the test server and db."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    monkeypatch.delenv("AGENTMEM_DB", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    config = Config()
    config.AgentMagics.base_url = server.base_url
    config.AgentMagics.db = db_path
    config.AgentMagics.model = "test-model"
    config.AgentMagics.max_retries = 0  # a scripted error must reach the test, not a retry
    config.AgentMagics.timeout = 10.0
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "jupyter_agentmem")
    yield ip
    ip.run_line_magic("unload_ext", "jupyter_agentmem")
    InteractiveShell.clear_instance()
    # Each shell registers its own exit operations, a gc.collect() each over the whole
    # heap: after ~300 of them pytest took ~5 minutes to exit (.ci/run, 2026-12-05).
    atexit.unregister(ip.atexit_operations)


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch):
    # Tests never reach a real provider.
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    if "OPENAI_API_KEY" in os.environ:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
