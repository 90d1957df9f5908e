"""Interaction events: the model, validation and the DuckDB-backed log."""
