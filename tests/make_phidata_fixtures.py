"""Write small fixture stores with REAL phidata 2.7.10, offline, against fake_openai.py.

Depends only on: phidata==2.7.10 (+ its deps openai, sqlalchemy, rich; psycopg for --pg),
the standard library, and phidata_fake_openai.py (next to this file).

    python tests/make_phidata_fixtures.py                    # -> ./phidata_sqlite.db + ./fixtures_manifest.json
    python make_fixtures.py --pg                  # also start a throwaway PostgreSQL 15 (needs root:
                                                  #    initdb runs as user postgres), fill it, and
                                                  #    pg_dump --inserts it to ./phidata_pg.sql
    python make_fixtures.py --pg-url postgresql+psycopg://u:p@127.0.0.1:5432/db
                                                  # fill an existing server (schema "ai") instead

--pg needs the PostgreSQL server binaries (initdb, pg_ctl, pg_dump; PG_BIN, default
/usr/lib/postgresql/15/bin) and the psql client; it runs as root (initdb via `su postgres`)
or as a user that may run initdb itself.

What gets written (same content in SQLite and PostgreSQL):
  table agent_sessions  (SqlAgentStorage / PgAgentStorage, table_name="agent_sessions")
    sess-ana-0001  user "ana", agent "agent-fixture", 3 runs, session summary on, session_name "Ana intro"
    sess-bob-0001  user "bob", agent "agent-fixture", 2 runs, the first one calls the update_memory tool
  table agent_memory    (SqliteMemoryDb / PgMemoryDb, table_name="agent_memory")
    3 memories for ana, 1 for bob
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# phidata sends telemetry to its API by default (Agent.telemetry = PHI_TELEMETRY != "false");
# it must be off before phi is imported, or every run tries to reach the network.
os.environ["PHI_TELEMETRY"] = "false"
os.environ["PHI_MONITORING"] = "false"

from phidata_fake_openai import start_server  # noqa: E402

AGENT_ID = "agent-fixture"
AGENT_NAME = "Fixture Agent"
DESCRIPTION = "You are a helpful assistant."
ANA_SESSION = "sess-ana-0001"
BOB_SESSION = "sess-bob-0001"
ANA_MESSAGES = [  # (message, stream)
    ("My name is Ana Lima.", True),
    ("I live in Lisbon.", False),
    ("I like hiking in the mountains.", False),
]
BOB_MESSAGES = [
    ("Remember that I prefer tea over coffee.", False),
    ("What was my first message?", True),
]
# SQLite's CURRENT_TIMESTAMP has 1 s resolution; read_memories() orders by created_at, so keep
# memories a second apart to make their order well defined.
GAP_SECONDS = 1.1


def _agent(model_cls, storage, memdb, user_id, session_id, summary):
    from phi.agent import Agent, AgentMemory

    return Agent(
        model=model_cls(id="gpt-4o"),
        name=AGENT_NAME,
        agent_id=AGENT_ID,
        user_id=user_id,
        session_id=session_id,
        description=DESCRIPTION,
        add_history_to_messages=True,
        num_history_responses=3,
        memory=AgentMemory(db=memdb, create_user_memories=True, create_session_summary=summary),
        storage=storage,
    )


def populate(storage, memdb) -> None:
    """Run the two scripted conversations through real phidata Agents."""
    from phi.model.openai import OpenAIChat

    ana = _agent(OpenAIChat, storage, memdb, "ana", ANA_SESSION, summary=True)
    for i, (msg, stream) in enumerate(ANA_MESSAGES):
        if i:
            time.sleep(GAP_SECONDS)
        if stream:
            for _ in ana.run(msg, stream=True):
                pass
        else:
            ana.run(msg)
    ana.rename_session("Ana intro")

    time.sleep(GAP_SECONDS)
    bob = _agent(OpenAIChat, storage, memdb, "bob", BOB_SESSION, summary=False)
    for msg, stream in BOB_MESSAGES:
        if stream:
            for _ in bob.run(msg, stream=True):
                pass
        else:
            bob.run(msg)


def manifest(storage, memdb) -> dict:
    """What is in the store, read back through phidata itself (counts for tests)."""
    out: dict = {"sessions": {}, "memories": {}}
    for s in sorted(storage.get_all_sessions(), key=lambda s: s.session_id):
        mem = s.memory or {}
        runs = mem.get("runs", [])
        out["sessions"][s.session_id] = {
            "user_id": s.user_id,
            "agent_id": s.agent_id,
            "agent_name": (s.agent_data or {}).get("name"),
            "session_name": (s.session_data or {}).get("session_name"),
            "n_runs": len(runs),
            "n_messages": len(mem.get("messages", [])),
            "message_roles": [m["role"] for m in mem.get("messages", [])],
            "run_messages": [r.get("message", {}).get("content") for r in runs],
            "run_response_roles": [[m["role"] for m in r["response"]["messages"]] for r in runs],
            "run_contents": [r["response"].get("content") for r in runs],
            "summary": mem.get("summary"),
            "memories_in_session_row": [m["memory"] for m in mem.get("memories", [])],
            "created_at_type": type(s.created_at).__name__,
            "updated_at_is_null": s.updated_at is None,
        }
    for user in ("ana", "bob"):
        rows = memdb.read_memories(user_id=user, sort="asc")
        out["memories"][user] = [{"id": r.id, "memory": r.memory.get("memory"), "input": r.memory.get("input")}
                                 for r in rows]
    return out


# --------------------------------------------------------------------------- SQLite
def make_sqlite(path: Path) -> dict:
    from phi.memory.db.sqlite import SqliteMemoryDb
    from phi.storage.agent.sqlite import SqlAgentStorage

    if path.exists():
        path.unlink()
    storage = SqlAgentStorage(table_name="agent_sessions", db_file=str(path))
    memdb = SqliteMemoryDb(table_name="agent_memory", db_file=str(path))
    populate(storage, memdb)
    m = manifest(storage, memdb)
    storage.db_engine.dispose()
    memdb.db_engine.dispose()
    return m


# --------------------------------------------------------------------------- PostgreSQL
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayPostgres:
    """initdb + postgres as user 'postgres' in a temp dir on 127.0.0.1:<random port>; stop by pid."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="phidata-fixture-pg."))
        self.data = self.dir / "data"
        self.pid: int | None = None

    def _as_postgres(self, cmd: list[str], **kw):
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(f"'{c}'" for c in cmd)]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)

    def start(self) -> str:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w",
                           "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1", "start"])
        self.pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        psql = ["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-qc"]
        subprocess.run(psql + ["CREATE ROLE ai LOGIN SUPERUSER PASSWORD 'ai';"], check=True, capture_output=True)
        subprocess.run(psql + ["CREATE DATABASE ai OWNER ai;"], check=True, capture_output=True)
        return f"postgresql+psycopg://ai:ai@127.0.0.1:{self.port}/ai"

    def stop(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, 2)  # SIGINT = fast shutdown
                for _ in range(100):
                    os.kill(self.pid, 0)
                    time.sleep(0.1)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


def make_pg(db_url: str) -> dict:
    from phi.memory.db.postgres import PgMemoryDb
    from phi.storage.agent.postgres import PgAgentStorage

    storage = PgAgentStorage(table_name="agent_sessions", db_url=db_url)  # schema="ai" (default)
    memdb = PgMemoryDb(table_name="agent_memory", db_url=db_url)  # schema="ai" (default)
    storage.drop()
    memdb.drop_table()
    storage = PgAgentStorage(table_name="agent_sessions", db_url=db_url)
    memdb = PgMemoryDb(table_name="agent_memory", db_url=db_url)
    populate(storage, memdb)
    m = manifest(storage, memdb)
    storage.db_engine.dispose()
    memdb.db_engine.dispose()
    return m


def pg_dump(db_url: str, out: Path) -> None:
    # postgresql+psycopg://user:pw@host:port/db
    rest = db_url.split("://", 1)[1]
    cred, hostpart = rest.rsplit("@", 1)
    user, pw = cred.split(":", 1)
    hostport, db = hostpart.split("/", 1)
    host, port = hostport.rsplit(":", 1)
    dump = PG_BIN / "pg_dump"
    cmd = [str(dump if dump.exists() else "pg_dump"), "--inserts", "--no-owner", "--no-privileges",
           "-h", host, "-p", port, "-U", user, "-n", "ai", db]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "PGPASSWORD": pw})
    # pg_dump >= 15.14 wraps the dump in psql-only `\restrict KEY` / `\unrestrict KEY` meta-commands;
    # drop them so the file is plain SQL that any client (psycopg, older psql) can execute.
    lines = [ln for ln in res.stdout.splitlines(keepends=True)
             if not ln.startswith(("\\restrict", "\\unrestrict"))]
    out.write_text("".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "fixtures" / "phidata"), help="output directory")
    ap.add_argument("--pg", action="store_true", help="start a throwaway PostgreSQL and dump it")
    ap.add_argument("--pg-url", default=None, help="use this PostgreSQL instead of starting one")
    ap.add_argument("--no-sqlite", action="store_true")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    server, base_url = start_server(log_path=str(out / "fixtures_requests.jsonl"))
    (out / "fixtures_requests.jsonl").write_text("")
    os.environ["OPENAI_BASE_URL"] = base_url  # used by OpenAIChat() and by the memory classifier/
    os.environ["OPENAI_API_KEY"] = "fake"     # manager/summarizer, which build their own OpenAIChat()
    result: dict = {"phidata_version": _phidata_version()}
    try:
        if not a.no_sqlite:
            result["sqlite"] = make_sqlite(out / "phidata_sqlite.db")
            print(f"wrote {out / 'phidata_sqlite.db'}")
        if a.pg or a.pg_url:
            pg = None
            url = a.pg_url
            try:
                if url is None:
                    pg = ThrowawayPostgres()
                    url = pg.start()
                result["postgres"] = make_pg(url)
                pg_dump(url, out / "phidata_pg.sql")
                print(f"wrote {out / 'phidata_pg.sql'}")
            finally:
                if pg is not None:
                    pg.stop()
    finally:
        server.shutdown()
        server.server_close()
    (out / "fixtures_manifest.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out / 'fixtures_manifest.json'}")


def _phidata_version() -> str:
    try:
        from importlib.metadata import version

        return version("phidata")
    except Exception:  # noqa: BLE001
        return "unknown"


if __name__ == "__main__":
    main()
