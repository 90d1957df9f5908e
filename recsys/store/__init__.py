"""The DuckDB store: one file, one writer (the server), versioned schema."""

from recsys.store.database import Database, open_database

__all__ = ["Database", "open_database"]
