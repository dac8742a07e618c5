"""PostgreSQL, for a team sharing one store (psycopg 3: ``pip install ".[postgres]"``).

psycopg is imported when the first connection opens, not with this package.
"""

from __future__ import annotations

from ..sql.store import SqlStore
from .engine import (
    DEFAULT_SCHEMA,
    PostgresEngine,
    psycopg_url,
    redacted,
    shared_postgres,
    split_schema,
    valid_schema,
)


class PostgresStore(SqlStore):
    """The store in a PostgreSQL database (``db_url``: libpq or SQLAlchemy form), in
    ``schema`` (default ``agentmem``, or ``?schema=`` in the URL)."""

    def __init__(self, db_url: str, schema: str | None = None) -> None:
        super().__init__(shared_postgres(db_url, schema))


def open_postgres(location: str) -> SqlStore:
    return PostgresStore(location)


__all__ = ["DEFAULT_SCHEMA", "PostgresEngine", "PostgresStore", "open_postgres", "psycopg_url",
           "redacted", "shared_postgres", "split_schema", "valid_schema"]
