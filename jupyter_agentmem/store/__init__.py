"""Persistence: the ``Store`` contract, its SQL, and one folder per backend.

``open_store(location)`` picks the backend from the location (``registry.py``).
"""

from __future__ import annotations

from .base import DEFAULT_USER, StaleEdit, Store, StoreError
from .duckdb import DuckDbStore
from .duckdb.file_lock import LockTimeout
from .handles import AgentStorage, MemoryDb, StoreHandle
from .postgres import PostgresStore  # psycopg itself is imported at the first connection
from .registry import open_store

__all__ = ["DEFAULT_USER", "AgentStorage", "DuckDbStore", "LockTimeout", "MemoryDb",
           "PostgresStore", "StaleEdit", "Store", "StoreError", "StoreHandle", "open_store"]

