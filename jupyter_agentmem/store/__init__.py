"""Persistence: the ``Store`` interface and its DuckDB implementation."""

from .base import Store, StoreError
from .duckdb_store import DuckDbStore
from .file_lock import LockTimeout

__all__ = ["DuckDbStore", "LockTimeout", "Store", "StoreError"]
