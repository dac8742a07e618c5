"""Numbered schema migrations, one small function each, recorded in ``schema_migrations``.

Modelled on simonw/llm's migrations.py: a migration never changes once released;
a schema change is a new function appended to ``MIGRATIONS``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from ...types import utcnow
from .dialect import Dialect
from .engine import Connection


class Schema:
    """What a migration gets: ``execute`` for DDL, and the engine's dialect."""

    def __init__(self, con: Connection, dialect: Dialect) -> None:
        self.con = con
        self.dialect = dialect

    def execute(self, sql: str) -> None:
        self.con.execute(sql)


def m001_initial(schema: Schema) -> None:
    execute = schema.execute
    text_list = schema.dialect.text_list_type
    execute(
        """CREATE TABLE sessions (
            session_id VARCHAR PRIMARY KEY,
            user_id VARCHAR,
            agent_name VARCHAR,
            model VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL)"""
    )
    execute(
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            session_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            status VARCHAR NOT NULL,
            model VARCHAR,
            input_tokens INTEGER,
            output_tokens INTEGER,
            latency_ms DOUBLE PRECISION,
            error VARCHAR,
            user_id VARCHAR,
            created_at TIMESTAMP NOT NULL)"""
    )
    execute("CREATE INDEX runs_session ON runs (session_id)")
    execute(
        """CREATE TABLE messages (
            message_id VARCHAR PRIMARY KEY,
            session_id VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL,
            seq INTEGER NOT NULL,
            role VARCHAR NOT NULL,
            content VARCHAR,
            name VARCHAR,
            tool_calls VARCHAR,
            tool_call_id VARCHAR,
            created_at TIMESTAMP NOT NULL,
            edited_at TIMESTAMP)"""
    )
    execute("CREATE INDEX messages_session ON messages (session_id)")
    execute(
        f"""CREATE TABLE memories (
            memory_id VARCHAR PRIMARY KEY,
            user_id VARCHAR NOT NULL,
            memory VARCHAR NOT NULL,
            topics {text_list},
            input VARCHAR,
            session_id VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL,
            deleted_at TIMESTAMP)"""
    )
    execute("CREATE INDEX memories_user ON memories (user_id)")
    execute(
        f"""CREATE TABLE summaries (
            session_id VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            summary VARCHAR NOT NULL,
            topics {text_list},
            through_run_seq INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            edited_at TIMESTAMP,
            PRIMARY KEY (session_id, version))"""
    )
    execute(
        """CREATE TABLE memory_events (
            event_id VARCHAR PRIMARY KEY,
            target VARCHAR NOT NULL,
            target_id VARCHAR NOT NULL,
            user_id VARCHAR,
            session_id VARCHAR,
            action VARCHAR NOT NULL,
            old VARCHAR,
            new VARCHAR,
            actor VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL)"""
    )
    execute("CREATE INDEX memory_events_target ON memory_events (target_id)")


def m002_soft_delete_messages_and_summaries(schema: Schema) -> None:
    execute = schema.execute
    # Messages and summary versions get soft deletes, like memories. DuckDB refuses
    # some ALTER TABLEs on an indexed table ("Dependency Error"; ADD COLUMN passes on
    # 1.1.3 and 2.0), so the index is dropped and recreated around it on any version.
    execute("DROP INDEX messages_session")
    execute("ALTER TABLE messages ADD COLUMN deleted_at TIMESTAMP")
    execute("CREATE INDEX messages_session ON messages (session_id)")
    execute("ALTER TABLE summaries ADD COLUMN deleted_at TIMESTAMP")


def m003_search_index(schema: Schema) -> None:
    # The term index of sql/term_index.py, filled for what is already stored.
    execute = schema.execute
    execute(
        """CREATE TABLE search_docs (
            doc_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            session_id VARCHAR,
            user_id VARCHAR,
            run_id VARCHAR,
            role VARCHAR,
            length INTEGER NOT NULL,
            deleted BOOLEAN NOT NULL)"""
    )
    execute(
        """CREATE TABLE search_terms (
            term VARCHAR NOT NULL,
            doc_id VARCHAR NOT NULL,
            tf INTEGER NOT NULL)"""
    )
    execute("CREATE INDEX search_terms_term ON search_terms (term)")
    execute("CREATE INDEX search_terms_doc ON search_terms (doc_id)")
    _m003_index_unindexed(schema.con)


def _m003_index_unindexed(con: Connection) -> None:
    """m003 indexed what was stored; since m010 the term rows are gone and the index is
    built from the texts, so only the rows of ``search_docs`` are made here (in one
    statement per kind)."""
    summary_doc = "x.session_id || '#' || CAST(x.version AS VARCHAR)"
    con.execute(
        "INSERT INTO search_docs SELECT m.message_id, 'messages', m.session_id, s.user_id, "
        "m.run_id, m.role, 0, m.deleted_at IS NOT NULL FROM messages m "
        "LEFT JOIN sessions s USING (session_id)")
    con.execute(
        "INSERT INTO search_docs SELECT memory_id, 'memories', session_id, user_id, NULL, "
        "NULL, 0, deleted_at IS NOT NULL FROM memories")
    con.execute(
        f"INSERT INTO search_docs SELECT {summary_doc}, 'summaries', x.session_id, "
        "s.user_id, NULL, NULL, 0, x.deleted_at IS NOT NULL FROM summaries x "
        "LEFT JOIN sessions s USING (session_id)")


def m004_model_calls(schema: Schema) -> None:
    # The usage ledger's background half (memory and summary calls); chat calls are runs.
    schema.execute(
        """CREATE TABLE model_calls (
            call_id VARCHAR PRIMARY KEY,
            kind VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            session_id VARCHAR,
            user_id VARCHAR,
            run_id VARCHAR,
            input_tokens INTEGER,
            output_tokens INTEGER,
            latency_ms DOUBLE PRECISION,
            ok BOOLEAN NOT NULL,
            created_at TIMESTAMP NOT NULL)"""
    )


def m005_run_contexts_and_cells(schema: Schema) -> None:
    # The notebook cell a run came from, and the re-run that superseded it. The index
    # is dropped and recreated around ALTER TABLE, as in m002 (DuckDB).
    schema.execute("DROP INDEX runs_session")
    schema.execute("ALTER TABLE runs ADD COLUMN cell_id VARCHAR")
    schema.execute("ALTER TABLE runs ADD COLUMN superseded_by VARCHAR")
    schema.execute("CREATE INDEX runs_session ON runs (session_id)")
    # What each run sent the model: each distinct message once, by sha256 of its JSON.
    schema.execute(
        """CREATE TABLE request_parts (
            part_hash VARCHAR PRIMARY KEY,
            body VARCHAR NOT NULL)"""
    )
    schema.execute(
        """CREATE TABLE run_contexts (
            run_id VARCHAR PRIMARY KEY,
            session_id VARCHAR NOT NULL,
            parts VARCHAR NOT NULL,
            tokens VARCHAR NOT NULL,
            estimated BOOLEAN NOT NULL)"""
    )


def m006_session_name(schema: Schema) -> None:
    # phidata's session_name (rename_session); NULL until a session is named.
    schema.execute("ALTER TABLE sessions ADD COLUMN session_name VARCHAR")


# phidata's table_name: sessions and memories are kept apart per table name (the
# ``namespace``); rows stored before belong to phidata's default tables.
DEFAULT_SESSION_NAMESPACE = "agent_sessions"
DEFAULT_MEMORY_NAMESPACE = "agent_memory"


def m007_namespaces(schema: Schema) -> None:
    execute = schema.execute
    execute("ALTER TABLE sessions ADD COLUMN namespace VARCHAR "
            f"DEFAULT '{DEFAULT_SESSION_NAMESPACE}'")
    # DuckDB refuses some ALTER TABLEs on an indexed table (see m002).
    execute("DROP INDEX memories_user")
    execute(f"ALTER TABLE memories ADD COLUMN namespace VARCHAR "
            f"DEFAULT '{DEFAULT_MEMORY_NAMESPACE}'")
    execute("CREATE INDEX memories_user ON memories (user_id)")


def m008_recalled_runs(schema: Schema) -> None:
    # recall=N: the earlier exchanges a run's prompt recalled (JSON list of session_id,
    # run_id, seq); NULL for a run that recalled nothing, and for runs stored before.
    schema.execute("ALTER TABLE run_contexts ADD COLUMN recalled VARCHAR")
    # Recall reads the messages of runs found anywhere in a user's sessions: *measured*
    # at 2,000,000 messages (DuckDB 2.0.1), 50 runs' messages took 160-440 ms without an
    # index on run_id (by session, or by run id alone), ~20 ms with it. (A later
    # ALTER TABLE messages must drop and recreate it, as m002 does messages_session.)
    schema.execute("CREATE INDEX messages_run ON messages (run_id)")


def m009_provenance(schema: Schema) -> None:
    # Which runs each memory and summary version came from, so that purging a run
    # (sql/purge.py) finds what was derived from it: one row per (memory or summary
    # version, run). ``session_id`` is the run's session, ``user_id`` the owner of the
    # derived row (export scopes). A summary version also records the version it was
    # built on (``based_on``): it derives from everything that one derives from.
    schema.execute(
        """CREATE TABLE provenance (
            target VARCHAR NOT NULL,
            target_id VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL,
            session_id VARCHAR,
            user_id VARCHAR,
            PRIMARY KEY (target, target_id, run_id))"""
    )
    schema.execute("CREATE INDEX provenance_run ON provenance (run_id)")
    schema.execute("ALTER TABLE summaries ADD COLUMN based_on INTEGER")


def m010_search_revisions(schema: Schema) -> None:
    # The search index is served from memory (sql/search_index.py); SQL keeps what each
    # process needs to keep its copy current (sql/term_index.py): each text's revision,
    # each user's latest revision and purge epoch, and snapshots of the built index (a
    # restart loads one in well under a second instead of rebuilding: 20-40 s at 1M
    # messages). The term rows are no longer read: the table goes.
    execute = schema.execute
    execute("ALTER TABLE search_docs ADD COLUMN rev BIGINT DEFAULT 0")
    execute("UPDATE search_docs SET rev = 0")
    execute("DROP INDEX search_terms_term")
    execute("DROP INDEX search_terms_doc")
    execute("DROP TABLE search_terms")
    if schema.dialect.name != "duckdb":
        # DuckDB finds the recent revisions by its zone maps (revisions grow with the
        # rows); an index there would make UPDATE of rev a delete and insert.
        execute("CREATE INDEX search_docs_rev ON search_docs (user_id, rev)")
    execute(
        """CREATE TABLE search_revs (
            user_id VARCHAR PRIMARY KEY,
            rev BIGINT NOT NULL,
            epoch BIGINT NOT NULL)""")
    execute(
        f"""CREATE TABLE search_snapshots (
            user_id VARCHAR NOT NULL,
            part VARCHAR NOT NULL,
            chunk INTEGER NOT NULL,
            rev BIGINT NOT NULL,
            epoch BIGINT NOT NULL,
            analyzer VARCHAR NOT NULL,
            data {schema.dialect.blob_type} NOT NULL,
            PRIMARY KEY (user_id, part, chunk))""")
    for (user_id,) in schema.con.execute(
            "SELECT DISTINCT user_id FROM search_docs WHERE user_id IS NOT NULL").fetchall():
        # A random first epoch: a snapshot left by another database never matches.
        schema.con.execute("INSERT INTO search_revs VALUES (?, 0, ?)",
                           [user_id, secrets.randbits(62)])


def m011_numbered_appends(schema: Schema) -> None:
    # A run's number in the order runs were appended (sql/term_index.py): the index of
    # another process (or after a restart) finds the runs added since its copy by it, so
    # a turn writes no index rows (two statements, 1.6-2.3 ms of each turn's commit on
    # DuckDB at 100k messages, bench/bench_scale.py). Numbered where the engine commits
    # in the order numbers are taken (``Dialect.numbered_appends``); the runs stored
    # before keep their index rows (NULL here).
    schema.execute("ALTER TABLE runs ADD COLUMN search_seq BIGINT")
    if schema.dialect.numbered_appends:
        schema.execute("CREATE SEQUENCE search_seq_numbers")
        schema.execute("ALTER TABLE runs ALTER COLUMN search_seq "
                       "SET DEFAULT nextval('search_seq_numbers')")


MIGRATIONS: list[Callable[[Schema], None]] = [m001_initial,
                                              m002_soft_delete_messages_and_summaries,
                                              m003_search_index,
                                              m004_model_calls,
                                              m005_run_contexts_and_cells,
                                              m006_session_name,
                                              m007_namespaces,
                                              m008_recalled_runs,
                                              m009_provenance,
                                              m010_search_revisions,
                                              m011_numbered_appends]


def migrate(con: Connection, dialect: Dialect, upto: int | None = None) -> list[int]:
    """Apply the migrations not yet recorded (inside the caller's transaction), up to
    version ``upto`` (all when ``None``: a lower one makes an older database in tests).

    Returns the versions applied now.
    """
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    schema = Schema(con, dialect)
    applied = []
    for version, migration in enumerate(MIGRATIONS[:upto], start=1):
        if version in done:
            continue
        migration(schema)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    [version, migration.__name__, utcnow()])
        applied.append(version)
    return applied
