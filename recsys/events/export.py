"""Export the event log to date-partitioned Parquet, the hand-off to any other engine."""

from __future__ import annotations

from pathlib import Path

from recsys.store import DatabaseLike, using_database

PARTITION_COLUMN = "event_date"


def export_parquet(db: DatabaseLike, folder: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Write every interaction under ``folder/event_date=YYYY-MM-DD/`` (UTC dates); return the files.

    Refuses a non-empty folder unless ``overwrite`` is set, so an export never mixes with
    an older one. ``db`` may be a path (opened read-only for the export); the database is
    opened before the folder is made, so a bad path leaves nothing behind. Readers use hive partitioning, e.g. DuckDB
    ``read_parquet('folder/**/*.parquet', hive_partitioning = true)``.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"folder {str(folder)!r} exists and is not a directory")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"folder {str(folder)!r} is not empty; pass overwrite=True to replace its export")
    with using_database(db, read_only=True) as database:
        folder.mkdir(parents=True, exist_ok=True)
        database.cursor().execute(
            f"""
            COPY (
                SELECT *, CAST(timezone('UTC', event_time) AS DATE) AS {PARTITION_COLUMN}
                FROM interactions ORDER BY seq
            ) TO ? (FORMAT PARQUET, PARTITION_BY ({PARTITION_COLUMN}), OVERWRITE TRUE)
            """,
            [str(folder)],
        )
    return sorted(folder.rglob("*.parquet"))
