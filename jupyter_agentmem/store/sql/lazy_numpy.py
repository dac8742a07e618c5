"""numpy, imported at its first use: ``from . import lazy_numpy as np`` reads like numpy.

*Measured* (bench/bench_cold.py, issue 17 point 3): ``import numpy`` cost ~40 ms of a
fresh kernel's first ``%%agent`` cell, which never uses it: a new store's index has
nothing in it, and a first turn neither builds nor searches one. Only building or
searching an index (``bm25.py``, ``search_index.py``) imports numpy. Each name is looked
up once, then kept in this module, so later uses cost what ``numpy.name`` does.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    value = getattr(importlib.import_module("numpy"), name)
    globals()[name] = value
    return value
