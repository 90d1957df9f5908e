"""Domains and their parents: the transfer-learning chains live in this table."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from recsys.store import Database, accepts_path

DOMAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")


class DomainError(ValueError):
    """A domain name, parent or chain is invalid; the message names the value."""


class UnknownDomainError(DomainError, LookupError):
    pass


@dataclass(frozen=True)
class DomainRecord:
    name: str
    parent: str | None = None
    description: str = ""


def check_domain_name(name: str, field: str = "domain") -> str:
    if not DOMAIN_NAME.match(name or ""):
        raise DomainError(
            f"{field} {name!r} is invalid: use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


@accepts_path(read_only=True)
def get_domain(db: Database, name: str) -> DomainRecord | None:
    row = db.cursor().execute("SELECT name, parent, description FROM domains WHERE name = ?", [name]).fetchone()
    return DomainRecord(row[0], row[1], row[2]) if row else None


@accepts_path(read_only=True)
def list_domains(db: Database) -> list[DomainRecord]:
    rows = db.cursor().execute("SELECT name, parent, description FROM domains ORDER BY name").fetchall()
    return [DomainRecord(*row) for row in rows]


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
