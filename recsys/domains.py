"""Domains and their parents: the transfer-learning chains live in this table."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.store import Database, accepts_path

# One rule for every path that names a domain. Python's ``$`` also matches before a final
# newline, so names are checked with ``fullmatch`` (and RE2's anchors, which do not).
DOMAIN_NAME_BODY = r"[a-z0-9][a-z0-9_\-]{0,63}"
DOMAIN_NAME = re.compile(DOMAIN_NAME_BODY)
DOMAIN_NAME_RULE = "use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
# A description is shown in listings; it must stay far below any message limit.
MAX_DESCRIPTION_CHARS = 1024


class DomainError(ValueError):
    """A domain name, parent or chain is invalid; the message names the value."""


class UnknownDomainError(DomainError, LookupError):
    pass


@dataclass(frozen=True)
class DomainRecord:
    name: str
    parent: str | None = None
    description: str = ""


def is_domain_name(name: object) -> bool:
    return isinstance(name, str) and DOMAIN_NAME.fullmatch(name) is not None


def domain_names_valid(names: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``is_domain_name`` over a column of strings (nulls are invalid), one bool per row."""
    matched = pc.match_substring_regex(names, f"^{DOMAIN_NAME_BODY}$")
    return pc.fill_null(matched, False).to_numpy(zero_copy_only=False)


def short_repr(value: str, limit: int = 40) -> str:
    """``repr`` of a client value cut to ``limit`` characters, so an error never echoes megabytes."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_domain_name(name: str, field: str = "domain") -> str:
    if not is_domain_name(name):
        shown = short_repr(name) if isinstance(name, str) else repr(type(name).__name__)
        raise DomainError(f"{field} {shown} is invalid: {DOMAIN_NAME_RULE}")
    return name


def check_description(description: str) -> str:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        size = len(description) if isinstance(description, str) else type(description).__name__
        raise DomainError(f"description has {size} characters, over the limit of {MAX_DESCRIPTION_CHARS}")
    return description


@accepts_path(read_only=True)
def get_domain(db: Database, name: str) -> DomainRecord | None:
    row = db.cursor().execute("SELECT name, parent, description FROM domains WHERE name = ?", [name]).fetchone()
    return DomainRecord(row[0], row[1], row[2]) if row else None


@accepts_path(read_only=True)
def list_domains(db: Database) -> list[DomainRecord]:
    rows = db.cursor().execute("SELECT name, parent, description FROM domains ORDER BY name").fetchall()
    return [DomainRecord(*row) for row in rows]


def domains_within(records: list[DomainRecord], max_bytes: int) -> tuple[list[DomainRecord], bool]:
    """The leading records whose names, parents and descriptions fit ``max_bytes``; True when cut."""
    total = 0
    for count, record in enumerate(records):
        total += len(record.name) + len(record.parent or "") + len(record.description.encode()) + 16
        if total > max_bytes:
            return records[:count], True
    return records, False


@accepts_path(read_only=True)
def chain(db: Database, name: str) -> list[str]:
    """The domain's ancestry, root first and the domain last (e.g. legal, contracts)."""
    parents = {record.name: record.parent for record in list_domains(db)}
    path = [name]
    seen = {name}
    current = parents.get(name)
    while current:
        if current in seen:
            raise DomainError(f"domain chain of {name!r} has a cycle through {current!r}")
        seen.add(current)
        path.append(current)
        current = parents.get(current)
    return list(reversed(path))


@accepts_path(read_only=False)
def upsert_domain(db: Database, record: DomainRecord) -> DomainRecord:
    """Create or update a domain; refuses a parent that is unknown or would make a cycle."""
    check_domain_name(record.name)
    check_description(record.description)
    parent = record.parent or None
    if parent is not None:
        check_domain_name(parent, field="parent")
        if parent == record.name:
            raise DomainError(f"parent {parent!r} cannot be the domain itself")
        if get_domain(db, parent) is None:
            raise UnknownDomainError(f"parent {parent!r} is not a known domain; create it first")
        if record.name in chain(db, parent):
            raise DomainError(f"parent {parent!r} would make a cycle: {record.name!r} is among its ancestors")
    with db.write_lock:
        db.cursor().execute(
            """
            INSERT INTO domains (name, parent, description) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET parent = excluded.parent, description = excluded.description
            """,
            [record.name, parent, record.description],
        )
    return DomainRecord(record.name, parent, record.description)


def ensure_domains(db: Database, names: list[str], *, cursor: duckdb.DuckDBPyConnection | None = None) -> None:
    """Record domains first seen in traffic (no parent), leaving known ones untouched.

    Pass ``cursor`` to make this part of a caller's open transaction (the caller then
    already holds ``db.write_lock``), e.g. the event log registering domains in the
    same commit as the events that name them.
    """
    if not names:
        return
    # One set-based statement: executemany, and ON CONFLICT, cost milliseconds per call in
    # DuckDB, paid on every ingested batch. The anti-join is safe under write_lock.
    sql = (
        "INSERT INTO domains (name) SELECT DISTINCT name FROM unnest(?::VARCHAR[]) AS t(name) "
        "WHERE name NOT IN (SELECT name FROM domains)"
    )
    params = [sorted(set(names))]
    if cursor is not None:
        cursor.execute(sql, params)
        return
    with db.write_lock:
        db.cursor().execute(sql, params)
