"""Which backend serves a location: one row per URL scheme.

A location is a path (DuckDB, the default), ``duckdb:///path``, ``sqlite:///path``,
or a URL such as
``postgresql://user@host/db`` (``postgresql+psycopg://`` too, as in phidata's
examples). A new backend is its folder (engine + dialect) and one row here.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from .base import Store

# scheme -> "module:function" making the store for a location (imported on first use,
# so psycopg is never imported for a DuckDB file).
BACKENDS: dict[str, str] = {
    "duckdb": "jupyter_agentmem.store.duckdb:open_duckdb",
    "postgresql": "jupyter_agentmem.store.postgres:open_postgres",
    "postgres": "jupyter_agentmem.store.postgres:open_postgres",
    "sqlite": "jupyter_agentmem.store.sqlite:open_sqlite",
}
# scheme -> the driver its engine imports at the first connection (imported ahead, in
# the background after %load_ext: notebook/preload.py).
DRIVERS: dict[str, str] = {
    "duckdb": "duckdb",
    "postgresql": "psycopg",
    "postgres": "psycopg",
    "sqlite": "sqlite3",
}
FILE_SCHEMES = ("duckdb", "sqlite")  # a file on this machine (created private)
DEFAULT_SCHEME = "duckdb"  # a plain path


def scheme_of(location: str) -> str:
    """``postgresql+psycopg://h/db`` -> ``postgresql``; a plain path -> ``duckdb``."""
    head, sep, _ = location.partition("://")
    return head.partition("+")[0].lower() if sep else DEFAULT_SCHEME


def backend_for(location: str) -> Callable[[str], Store]:
    """The function that opens ``location``; ``ValueError`` for an unknown scheme."""
    scheme = scheme_of(location)
    target = BACKENDS.get(scheme)
    if target is None:
        raise ValueError(f"unknown database scheme {scheme!r} in {location!r}; "
                         f"use a file path or one of: {', '.join(s + '://' for s in BACKENDS)}")
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def import_driver(location: str) -> None:
    """Import the backend module and driver ``location`` will need (nothing is opened)."""
    backend_for(location)
    driver = DRIVERS.get(scheme_of(location))
    if driver is not None:
        importlib.import_module(driver)


def open_store(location: str | os.PathLike | None) -> Store:
    """The store at ``location`` (``None``: a private in-memory DuckDB)."""
    if location is None:
        return backend_for("duckdb://")("duckdb://")
    text = os.fspath(location)
    return backend_for(text)(text)


def is_url(location: str) -> bool:
    """True for a server URL (no file on this machine to create or protect)."""
    return scheme_of(location) not in FILE_SCHEMES
