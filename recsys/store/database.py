"""Open the DuckDB file: one connection per process, a cursor per thread."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb

from recsys.store.migrations import apply_migrations
from recsys.store.transactions import transaction

DEFAULT_DB_PATH = Path("var/adaptune.duckdb")


@dataclass
class Database:
    """The process's single connection to the store.

    The server owns the file (one writer). Threads call ``cursor()``; writers
    that must not interleave (batched appends, registry updates) hold
    ``write_lock`` around their transaction.
    """

    path: Path
    connection: duckdb.DuckDBPyConnection
    read_only: bool = False
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    # The store's own failure of the last transaction (disk full, corrupt blocks); None once
    # one commits again. Health reports it (server.store_health).
    write_error: duckdb.Error | None = None

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.connection.cursor()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A new cursor inside one transaction, closed afterwards (the caller holds ``write_lock``)."""
        cursor = self.cursor()
        try:
            with transaction(cursor):
                yield cursor
        except duckdb.Error as exc:
            self.write_error = exc
            raise
        else:
            self.write_error = None
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


def open_database(path: str | Path = DEFAULT_DB_PATH, read_only: bool = False) -> Database:
    """Open (creating folders and schema when writable) the database at ``path``.

    ``read_only`` is for a second process while no server runs; it never migrates.
    """
    path = Path(path)
    if str(path) != ":memory:":
        if read_only and not path.exists():
            raise FileNotFoundError(f"database file {path} does not exist")
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        apply_migrations(connection)
    return Database(path=path, connection=connection, read_only=read_only)
