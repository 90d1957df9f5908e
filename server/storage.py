"""Opening the store from a process entry point, with a clear error when another process holds it.

DuckDB lets one process write a file. A second server (or a CLI command while a server
runs) gets ``StoreLockedError`` that says what to do instead of a DuckDB traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from recsys.store import Database, open_database


class StoreLockedError(RuntimeError):
    """The database file is held by another process (usually a running server)."""


class StoreUnreadableError(RuntimeError):
    """The database file is not a DuckDB database, is truncated or corrupt."""


def open_store(path: str | Path, *, read_only: bool = False) -> Database:
    """``open_database`` with DuckDB's lock conflict turned into ``StoreLockedError``."""
    try:
        return open_database(path, read_only=read_only)
    except duckdb.Error as exc:
        if not isinstance(exc, duckdb.IOException) or "lock" not in str(exc).lower():
            raise StoreUnreadableError(
                f"database {str(path)!r} cannot be opened: it is not a valid DuckDB file, or it is truncated or "
                "corrupt. Restore it from a backup or point --db at another file."
            ) from exc
        pid = re.search(r"PID (\d+)", str(exc))
        holder = f"process {pid.group(1)}" if pid else "another process"
        raise StoreLockedError(
            f"database {str(path)!r} is locked by {holder}: a server probably owns it. "
            "Stop that server, point --db at another file, or go through the server's RPCs "
            "(e.g. `adaptune stats --address HOST:PORT`)."
        ) from exc
