"""The panel's CSV and Parquet export of a tab's rows."""

from __future__ import annotations

import os

import pandas as pd

FORMATS = ("csv", "parquet")


def export_frame_to(frame: pd.DataFrame, base: str, fmt: str) -> str:
    """Write ``frame`` to ``base`` + ``.csv`` / ``.parquet``; returns the absolute path."""
    if fmt not in FORMATS:
        raise ValueError("fmt must be 'csv' or 'parquet'")
    target = base if base.endswith("." + fmt) else f"{base}.{fmt}"
    if fmt == "csv":
        frame.to_csv(target, index=False)
    else:
        write_parquet(frame, target)
    return os.path.abspath(target)


def write_parquet(frame: pd.DataFrame, path: str) -> None:
    """Parquet written by DuckDB (no pyarrow needed), in a private in-memory database:
    never the agent's file, which another process may hold."""
    import duckdb

    con = duckdb.connect(":memory:", config={"autoinstall_known_extensions": False,
                                             "autoload_known_extensions": False})
    try:
        con.from_df(frame.astype(object).where(frame.notna(), None)).write_parquet(path)
    finally:
        con.close()
