"""``python -m jupyter_agentmem quickstart``: the quickstart conversation, in a terminal;
``python -m jupyter_agentmem import-phidata SOURCE``: bring a phidata 2.x store over.

It uses the offline demo model unless OPENAI_API_KEY or OPENAI_BASE_URL is set, so
it runs on a fresh machine with no network.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import ChatModel

RESUME = """
from jupyter_agentmem import Agent
from jupyter_agentmem.__main__ import quickstart_model
from jupyter_agentmem.storage import DuckDbAgentStorage
agent = Agent(model=quickstart_model(), storage=DuckDbAgentStorage(db_file={db!r}),
              add_history_to_messages=True, session_id={session!r})
agent.print_response("What was my first message?", stream=True)
"""


def quickstart_model() -> ChatModel:
    from .model import OpenAIChat

    if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
        return OpenAIChat(id=os.environ.get("AGENTMEM_MODEL", "gpt-4o-mini"))
    from .model.demo import demo_model

    print("(No OPENAI_API_KEY or OPENAI_BASE_URL: using the offline demo model.)\n")
    return demo_model()


def quickstart(db: str) -> None:
    from .agent import Agent
    from .storage import DuckDbAgentStorage

    agent = Agent(model=quickstart_model(), storage=DuckDbAgentStorage(db_file=db),
                  add_history_to_messages=True, num_history_responses=3,
                  description="You are a helpful assistant.")
    print(f"== session {agent.session_id} in {db}\n")
    agent.print_response("Share a 2 sentence horror story", stream=True)
    print()
    agent.store.close()  # hand the file to the next process, as a restarted kernel would
    print("== a new process resumes the session by its id\n")
    subprocess.run([sys.executable, "-c", RESUME.format(db=db, session=agent.session_id)],
                   check=True)
    print("\n== the stored history (%agent history in a notebook)\n")
    import pandas as pd

    frame = pd.DataFrame(agent.store.message_rows(agent.session_id),
                         columns=["run_seq", "role", "content", "status"])
    frame["content"] = frame["content"].str.replace("\n+", " / ", regex=True).str.slice(0, 70)
    print(frame.to_string(index=False))
    print("\nIn JupyterLab: %load_ext jupyter_agentmem, then %%agent session=foo "
          "(see notebooks/quickstart.ipynb).")


def migrate(source: str, target: str) -> dict[str, int]:
    """Copy every row of the store at ``source`` into the one at ``target`` (ids kept)."""
    from .store import StoreError, open_store

    if os.path.abspath(source) == os.path.abspath(target):
        raise SystemExit("migrate: FROM and TO are the same store")
    if "://" not in source and not os.path.exists(source):
        raise SystemExit(f"migrate: {source} does not exist")
    try:
        # The whole store, every user's rows as they are: the files' owner's command.
        rows = open_store(source).export_all()
        added = open_store(target).import_all(rows)
    except StoreError as exc:
        raise SystemExit(f"migrate: {exc}") from None
    for table, found in rows.items():
        print(f"{table}: {len(found)} read, {added.get(table, 0)} added")
    return added


def import_phidata_command(args: argparse.Namespace) -> int:
    from .store import StoreError, open_store
    from .store.location import default_db_path
    from .store.phidata_import import PhidataImportError, import_phidata

    target = default_db_path(args.db)
    try:
        result = import_phidata(open_store(target), args.source, table=args.table,
                                memory_table=args.memory_table, schema=args.schema)
    except (PhidataImportError, StoreError) as exc:
        print(f"import-phidata: {exc}", file=sys.stderr)
        return 2
    print(f"{result.describe()} into {open_store(target).path}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m jupyter_agentmem")
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quickstart", help="hold a short conversation and resume it")
    q.add_argument("--db", default=None, help="DuckDB file (default: a temporary one)")
    m = sub.add_parser("migrate", help="copy a whole store to another (DuckDB, SQLite, "
                       "PostgreSQL); rows already there are kept")
    m.add_argument("source", metavar="FROM", help="a DuckDB path or a database URL")
    m.add_argument("target", metavar="TO", help="a DuckDB path or a database URL")
    imp = sub.add_parser("import-phidata", help="import sessions and memories written by "
                         "phidata 2.x (ids kept; a re-import adds nothing)")
    imp.add_argument("source", help="a SQLite file or a postgresql:// URL written by phidata")
    imp.add_argument("--table", default="agent_sessions", help="phidata's session table")
    imp.add_argument("--memory-table", default=None, help="phidata's memory table "
                     "(e.g. agent_memory); memories are imported only when given")
    imp.add_argument("--schema", default="ai", help="PostgreSQL schema of those tables")
    imp.add_argument("--db", default=None, help="where to import (default: AGENTMEM_DB or "
                     "the Jupyter data dir)")
    args = parser.parse_args(argv)
    if args.command == "migrate":
        migrate(args.source, args.target)
        return
    if args.command == "import-phidata":
        sys.exit(import_phidata_command(args))
    if args.command == "quickstart":
        if args.db:
            quickstart(args.db)
        else:
            with tempfile.TemporaryDirectory() as d:
                quickstart(os.path.join(d, "quickstart.duckdb"))


if __name__ == "__main__":
    main()
