"""The DuckDB store: one file, one writer (the server), versioned schema."""

from recsys.store.database import Database, DatabaseLike, accepts_path, open_database, using_database

__all__ = ["Database", "DatabaseLike", "accepts_path", "open_database", "using_database"]
