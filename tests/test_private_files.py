"""The database folder we create is 0700 and every file of the store (db, WAL, .lock,
.want) is 0600, under any umask (memories are personal data)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import os, stat, sys, json
    os.umask(int(sys.argv[2], 8))
    from jupyter_agentmem.store import DuckDbStore
    from jupyter_agentmem.types import Message, Run
    db = sys.argv[1]
    store = DuckDbStore(db, idle_release_s=60)
    def write():
        store.append_run(Run(session_id="s", messages=[Message(role="user", content="hi")]))
    def modes():
        folder = os.path.dirname(db)
        out = {"folder": oct(stat.S_IMODE(os.stat(folder).st_mode))}
        for name in os.listdir(folder):
            out[name] = oct(stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode))
        return out
    write()
    first = modes()  # open, with a WAL
    store.close()  # checkpoints: the WAL goes
    write()  # a new WAL, made by DuckDB under the umask
    print(json.dumps([first, modes()]))
    os._exit(0)
""")


@pytest.mark.parametrize("umask", ["022", "000", "002"])
def test_database_folder_0700_and_files_0600_under_any_umask(tmp_path, umask):
    import json

    db = tmp_path / "new" / "deeper" / "agentmem.duckdb"
    out = subprocess.run([sys.executable, "-c", CHILD, str(db), umask],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for modes in json.loads(out.stdout):
        assert modes.pop("folder") == "0o700"
        assert set(modes) >= {"agentmem.duckdb", "agentmem.duckdb.wal",
                              "agentmem.duckdb.lock", "agentmem.duckdb.want"}
        assert set(modes.values()) == {"0o600"}, modes
    assert stat.S_IMODE(os.stat(db.parent.parent).st_mode) == 0o700  # created: ours


def test_an_existing_folder_is_left_as_it_is(tmp_path):
    import json

    tmp_path.chmod(0o755)  # the user's own project folder
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "a.duckdb"), "022"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    first, _ = json.loads(out.stdout)
    assert first.pop("folder") == "0o755"
    assert set(first.values()) == {"0o600"}


def test_the_helpers_are_umask_proof(tmp_path):
    from jupyter_agentmem.store.files import make_private, open_private, private_folder

    old = os.umask(0)
    try:
        private_folder(str(tmp_path / "a" / "b"))
        fd = open_private(str(tmp_path / "a" / "b" / "x.db"))
        os.close(fd)
        (tmp_path / "a" / "b" / "x.db-wal").write_text("")
        make_private(str(tmp_path / "a" / "b" / "x.db-wal"), str(tmp_path / "missing"))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700
    for name in ("x.db", "x.db-wal"):
        assert stat.S_IMODE((tmp_path / "a" / "b" / name).stat().st_mode) == 0o600
