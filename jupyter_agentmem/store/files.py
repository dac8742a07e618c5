"""Private files: a database folder we create is 0700 and every file of the store 0600,
under any umask (memories are personal data).

Every backend that keeps files uses these helpers (DuckDB: the database, its WAL, the
``.lock`` and ``.want`` files; SQLite calls the same ones for its file, ``-wal`` and
``-shm``). A folder that already exists is left as it is: it may be the user's project
folder. A file another user owns is left alone too (chmod would fail anyway).
"""

from __future__ import annotations

import os
import stat

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(path: str) -> None:
    """Create ``path`` and its missing parents, each 0700 whatever the umask."""
    missing = []
    current = os.path.abspath(path)
    while not os.path.exists(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, FOLDER_MODE)
        except FileExistsError:  # another process made it meanwhile: theirs to set
            continue
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask


def open_private(path: str, flags: int = os.O_RDWR | os.O_CREAT) -> int:
    """``os.open`` that leaves the file 0600 (a new one, or an older one of ours)."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private(*paths: str) -> None:
    """Make each existing file of ours 0600 (files a database library created itself).

    ~2 us per path (a stat; a chmod only when the mode is wrong): cheap enough for
    after every commit, when DuckDB may have created a new WAL under the umask.
    """
    for path in paths:
        try:
            info = os.stat(path)
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(path, FILE_MODE)
        except FileNotFoundError:
            continue
