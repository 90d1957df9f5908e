"""One DuckDB transaction as a block: committed when it ends, rolled back when it raises.

Every writer (ingestion, probes, cycles, the registry, migrations) needs exactly this;
it lives here once so none of them can forget the rollback.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import duckdb


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """``con`` inside BEGIN ... COMMIT; any exception (interrupts too) rolls back and propagates."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
