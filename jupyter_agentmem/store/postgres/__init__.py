"""PostgreSQL, for a team sharing one store (psycopg 3: ``pip install ".[postgres]"``).

psycopg is imported when the first connection opens, not with this package.
"""

from __future__ import annotations

from ..sql.store import SqlStore
from .engine import PostgresEngine, psycopg_url, redacted, shared_postgres


class PostgresStore(SqlStore):
    """The store in a PostgreSQL database (``db_url``: libpq or SQLAlchemy form)."""

    def __init__(self, db_url: str) -> None:
        super().__init__(shared_postgres(db_url))


def open_postgres(location: str) -> SqlStore:
    return PostgresStore(location)


__all__ = ["PostgresEngine", "PostgresStore", "open_postgres", "psycopg_url", "redacted",
           "shared_postgres"]
