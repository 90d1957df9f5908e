"""The Parquet snapshot a cycle's jobs read instead of the server's DuckDB file.

The server is the file's only writer, so a job elsewhere (a worker process, a Ray
node) never opens it: the server writes the tables a job reads (domains, adapters and
the interactions up to the cycle's upper watermark) as Parquet once per cycle, and each
job loads them into its own in-memory database, which the unchanged per-domain code
(``train_domain``, the registry's lookups) then queries as usual.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from recsys.store import Database, open_database
from tuner.executors.base import snapshot_path

# table -> the rows a job may read (parameter: the cycle's upper watermark).
TABLES = {
    "domains": "SELECT * FROM domains",
    "adapters": "SELECT * FROM adapters",
    # Heads cover a domain's declared labels; warm starts check the parent's file hashes.
    "domain_labels": "SELECT * FROM domain_labels",
    "adapter_file_hashes": "SELECT * FROM adapter_file_hashes",
    "interactions": "SELECT * FROM interactions WHERE seq <= $until ORDER BY seq",
}


def write_snapshot(db: Database, folder: str | Path, until_seq: int) -> Path:
    """Write the snapshot under ``folder`` (replacing an older one there); returns the folder."""
    folder = Path(folder)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cursor = db.cursor()
    try:
        for table, query in TABLES.items():
            params = {"until": until_seq} if "$until" in query else {}
            cursor.execute(f"COPY ({query}) TO '{_quoted(snapshot_path(folder, table))}' (FORMAT PARQUET)", params)
    finally:
        cursor.close()
    return folder


def load_snapshot(folder: str | Path) -> Database:
    """A fresh in-memory database (same migrations) holding the snapshot's rows."""
    db = open_database(":memory:")
    for table in TABLES:
        path = snapshot_path(folder, table)
        if not path.is_file():
            raise FileNotFoundError(f"snapshot file {str(path)!r} is missing (is the snapshot folder shared with this worker?)")
        db.cursor().execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet('{_quoted(path)}')")
    return db


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
