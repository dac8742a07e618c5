"""Persistence: the ``Store`` interface, its DuckDB and PostgreSQL implementations."""

from __future__ import annotations

import os

from .base import Store, StoreError
from .duckdb_store import DuckDbStore
from .file_lock import LockTimeout

__all__ = ["DuckDbStore", "LockTimeout", "PostgresStore", "Store", "StoreError", "open_store"]

_POSTGRES = ("postgresql://", "postgres://", "postgresql+")


def is_postgres_url(location: str) -> bool:
    return location.startswith(_POSTGRES)


def open_store(location: str | os.PathLike | None) -> Store:
    """A DuckDB file path (``None``: in memory) or a ``postgresql://`` URL -> its store."""
    if location is not None and is_postgres_url(os.fspath(location)):
        from .postgres_store import PostgresStore

        return PostgresStore(os.fspath(location))
    return DuckDbStore(location)


def __getattr__(name: str):  # noqa: ANN202 (PostgresStore imports psycopg lazily)
    if name == "PostgresStore":
        from .postgres_store import PostgresStore

        return PostgresStore
    raise AttributeError(name)
