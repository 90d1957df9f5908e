"""Open the DuckDB file: one connection per process, a cursor per thread."""

from __future__ import annotations

import contextlib
import functools
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar, Union

import duckdb

from recsys.store.migrations import apply_migrations
from recsys.store.transactions import transaction

DEFAULT_DB_PATH = Path("var/adaptune.duckdb")
F = TypeVar("F", bound=Callable[..., Any])


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


DatabaseLike = Union[Database, str, Path]


@contextlib.contextmanager
def using_database(db: DatabaseLike, *, read_only: bool) -> Iterator[Database]:
    """The ``Database`` given, or one opened on a path for this call and closed after.

    Functions that only read pass ``read_only=True``: a path then opens read-only, so a
    missing file is an error (nothing is created) and no schema is written.
    """
    if isinstance(db, Database):
        yield db
        return
    if not isinstance(db, (str, Path)):
        raise TypeError(f"db must be a Database or a path to a database file, got {type(db).__name__}")
    opened = open_database(db, read_only=read_only)
    try:
        yield opened
    finally:
        opened.close()


def accepts_path(*, read_only: bool) -> Callable[[F], F]:
    """Let a function whose first argument is a ``Database`` take a path too (see ``using_database``)."""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(db: DatabaseLike, *args: Any, **kwargs: Any) -> Any:
            if isinstance(db, Database):
                return func(db, *args, **kwargs)
            with using_database(db, read_only=read_only) as database:
                return func(database, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
