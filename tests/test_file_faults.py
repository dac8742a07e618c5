"""File faults: each is one UsageError naming the file and saying what to do; no file is
changed or deleted; a read-only file or folder still lets %agent history read."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from jupyter_agentmem.store import DuckDbStore
from jupyter_agentmem.types import Message, Run


def good_db(path: str, runs: int = 300) -> str:
    store = DuckDbStore(path)
    for i in range(runs):
        store.as_user("default").append_run(Run(session_id="s", messages=[Message(role="user",
                                                                                  content=f"m{i}")]))
    store.close()
    return path


def make_truncated(d):
    data = Path(good_db(f"{d}/src.duckdb")).read_bytes()
    Path(f"{d}/db.duckdb").write_bytes(data[: len(data) // 3])
    return f"{d}/db.duckdb"


def make_corrupt(d):
    data = Path(good_db(f"{d}/src.duckdb")).read_bytes()
    Path(f"{d}/db.duckdb").write_bytes(data[:4096] + bytes(255 - b for b in data[4096:]))
    return f"{d}/db.duckdb"


def make_text(d):
    Path(f"{d}/notes.txt").write_text("my notes\n" * 500)
    return f"{d}/notes.txt"


def make_sqlite(d):
    con = sqlite3.connect(f"{d}/db.sqlite")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    return f"{d}/db.sqlite"


def make_folder(d):
    os.mkdir(f"{d}/adir")
    return f"{d}/adir"


def make_missing_parent(d):
    Path(f"{d}/afile").write_text("x")
    return f"{d}/afile/sub/db.duckdb"  # a parent that cannot be created


def make_corrupt_wal(d):
    import duckdb

    con = duckdb.connect(f"{d}/w.duckdb")
    con.execute("CREATE TABLE t (x INT)")
    con.execute("CHECKPOINT")
    con.execute("INSERT INTO t VALUES (1)")
    shutil.copy(f"{d}/w.duckdb", f"{d}/db.duckdb")
    shutil.copy(f"{d}/w.duckdb.wal", f"{d}/db.duckdb.wal")
    con.close()
    wal = bytearray(Path(f"{d}/db.duckdb.wal").read_bytes())
    # One byte of the last entry's payload: its size stays whole, so this is damage, not
    # a torn tail (which DuckDB rightly ignores).
    wal[-3] ^= 0xFF
    Path(f"{d}/db.duckdb.wal").write_bytes(bytes(wal))
    return f"{d}/db.duckdb"


FAULTS = {  # name: (make the fault, what the error says)
    "truncated": (make_truncated, ["is damaged", "Restore it from a backup"]),
    "corrupt_block": (make_corrupt, ["is damaged", "left untouched"]),
    "text_file": (make_text, ["is not a DuckDB database", "left untouched"]),
    "sqlite_file": (make_sqlite, ["is a SQLite file", "sqlite:///"]),
    "folder": (make_folder, ["is a folder, not a file", "agentmem.duckdb"]),
    "missing_parent": (make_missing_parent, ["does not exist and cannot be created"]),
    "corrupt_wal": (make_corrupt_wal, ["write-ahead log", "can be opened without it",
                                       ".wal.damaged", "Nothing was deleted"]),
}


def files_of(folder: str) -> dict[str, bytes]:
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if not name.endswith((".lock", ".want")):
                out[os.path.join(root, name)] = Path(root, name).read_bytes()
    return out


@pytest.mark.parametrize("fault", list(FAULTS))
def test_file_fault_is_one_usage_error_naming_the_file(shell, server, tmp_path, fault):
    make, said = FAULTS[fault]
    path = make(str(tmp_path))
    before = files_of(str(tmp_path))
    shell.run_line_magic("config", f"AgentMagics.db = {path!r}")
    for run in (lambda: shell.run_line_magic("agent", "history"),
                lambda: shell.run_cell_magic("agent", "", "hello")):
        with pytest.raises(UsageError) as err:
            run()
        assert path in str(err.value)
        for words in said:
            assert words in str(err.value), str(err.value)
    assert files_of(str(tmp_path)) == before  # nothing changed or deleted
    assert server.of("chat") == []


AS_CHILD = textwrap.dedent("""
    import json, sys
    from IPython.core.error import UsageError
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "jupyter_agentmem")
    ip.run_line_magic("config", "AgentMagics.db = " + repr(sys.argv[1]))
    out = {}
    try:
        out["rows"] = len(ip.run_line_magic("agent", "history session=s"))
        from jupyter_agentmem.store import DuckDbStore, StoreError
        from jupyter_agentmem.types import Memory
        try:
            DuckDbStore(sys.argv[1]).as_user("x").add_memory(Memory(user_id="x", memory="y"))
        except StoreError as exc:
            out["write"] = str(exc)
    except UsageError as exc:
        out["error"] = str(exc)
    print(json.dumps(out))
""")


def in_child(path: str, home: str, *wrapper: str) -> dict:
    """Run AS_CHILD on ``path`` under ``wrapper`` (a read-only mount, fewer privileges)."""
    env = {**os.environ, "HOME": home, "IPYTHONDIR": home + "/ipy",
           "JUPYTER_DATA_DIR": home + "/data"}
    env.pop("AGENTMEM_DB", None)
    out = subprocess.run([*wrapper, sys.executable, "-c", AS_CHILD, path], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


# The tests run as root (as CI does), who may read and write anything: a read-only
# mount (a private mount namespace) and a process without the capabilities that let
# root ignore file permissions show what a user meets.
def read_only_mount(source: str, target: str) -> tuple[str, ...]:
    script = ('mount --bind "$0" "$1" && mount -o remount,bind,ro "$1" && shift && '
              'exec "$@"')
    return ("unshare", "-m", "sh", "-c", script, source, target)


NOT_ROOT_FOR_FILES = ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


@pytest.fixture
def dirs(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return str(tmp_path), str(home)


def test_a_read_only_mount_still_lets_history_read(dirs):
    folder, home = dirs
    os.mkdir(f"{folder}/src")
    os.mkdir(f"{folder}/mnt")
    good_db(f"{folder}/src/db.duckdb", runs=3)
    before = files_of(f"{folder}/src")
    path = f"{folder}/mnt/db.duckdb"
    result = in_child(path, home, *read_only_mount(f"{folder}/src", f"{folder}/mnt"))
    assert result["rows"] == 3
    assert path in result["write"] and "is read-only" in result["write"]
    assert "can be read, not written" in result["write"]
    assert files_of(f"{folder}/src") == before


def test_a_read_only_file_still_lets_history_read(dirs):
    folder, home = dirs
    path = good_db(f"{folder}/db.duckdb", runs=2)
    os.chmod(path, 0o444)
    result = in_child(path, home, *NOT_ROOT_FOR_FILES)
    assert result["rows"] == 2 and "is read-only" in result["write"]


def test_a_file_of_another_user_is_a_clear_error(dirs):
    folder, home = dirs
    path = good_db(f"{folder}/db.duckdb", runs=1)
    os.chown(path, 65534, 65534)  # nobody's, 0600
    result = in_child(path, home, *NOT_ROOT_FOR_FILES)
    assert path in result["error"] and "permission denied" in result["error"]
    os.mkdir(f"{folder}/theirs", 0o755)
    os.chown(f"{folder}/theirs", 65534, 65534)
    sub = f"{folder}/theirs/sub/db.duckdb"  # a folder we may not create
    result = in_child(sub, home, *NOT_ROOT_FOR_FILES)
    assert sub in result["error"] and "permission denied" in result["error"]


def test_a_lock_held_by_another_kernel_is_a_usage_error_in_line_magics(shell, db_path):
    from jupyter_agentmem.store.duckdb import shared_duckdb

    shared_duckdb(db_path, lock_timeout_s=0.5)  # the magic gets this engine
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from jupyter_agentmem.store.duckdb.file_lock import HandoverLock;"
         "l = HandoverLock(sys.argv[1]); l.acquire(5); print('held', flush=True);"
         "time.sleep(30)", db_path], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for line in ("history", "sessions", "memories"):
            with pytest.raises(UsageError, match="is held by process"):
                shell.run_line_magic("agent", line)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


@pytest.mark.parametrize("handover", [False, True], ids=["while-open", "after-handover"])
@pytest.mark.parametrize("backend", ["duckdb", "sqlite"])
def test_a_database_deleted_under_a_running_kernel_is_said(backend, handover, tmp_path):
    """Moved away (as a deletion looks) while the connection is open, or after the
    process let go of it: every use is one StoreError saying so and what to do;
    nothing is written to the unlinked file and no empty file is made in its place
    (DuckDB made one without tables: CatalogException in every cell). Put back, the
    store goes on with its runs."""
    from jupyter_agentmem.store import StoreError, open_store

    path = str(tmp_path / f"agentmem.{backend}")
    location = path if backend == "duckdb" else "sqlite://" + path
    store = open_store(location).as_user("ana")
    store.as_user("ana").append_run(Run(session_id="s", messages=[Message(role="user",
                                                                          content="one")]))
    if handover:
        store.close()  # as after the idle second (DuckDB) or a reconnect
    aside = str(tmp_path / "aside")
    os.mkdir(aside)
    for suffix in ("", ".wal", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.rename(path + suffix, os.path.join(aside, os.path.basename(path) + suffix))
    for _ in range(2):
        with pytest.raises(StoreError, match="was deleted .* restart the kernel"):
            store.as_user("ana").append_run(Run(session_id="s", messages=[
                Message(role="user", content="two")]))
        with pytest.raises(StoreError, match="was deleted"):
            store.count_runs("s")
        assert not os.path.exists(path)
    for name in os.listdir(aside):
        os.rename(os.path.join(aside, name), os.path.join(tmp_path, name))
    assert store.count_runs("s") == 1
    store.as_user("ana").append_run(Run(session_id="s", messages=[Message(role="user",
                                                                          content="three")]))
    assert [r.messages[0].content for r in store.session_runs("s")] == ["one", "three"]
    store.close()


def test_the_notebook_says_a_deleted_database(shell, server, db_path):
    with capture_output():
        shell.run_cell_magic("agent", "session=s", "hello")
    shell.run_line_magic("agent", "history session=s")
    os.unlink(db_path)
    with pytest.raises(UsageError, match=f"The agent database {db_path} was deleted"):
        shell.run_line_magic("agent", "history session=s")
    assert not os.path.exists(db_path)
