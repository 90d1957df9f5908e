"""Domains and their parents: the transfer-learning chains live in this table."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import duckdb

from recsys.store import Database

DOMAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
# auto: the gate alone decides; required: a passing candidate waits for a person;
# required_above: it waits when it changes more than review_threshold of the held-out answers.
REVIEW_POLICIES = ("auto", "required", "required_above")


class DomainError(ValueError):
    """A domain name, parent or chain is invalid; the message names the value."""


class UnknownDomainError(DomainError, LookupError):
    pass


@dataclass(frozen=True)
class DomainRecord:
    name: str
    parent: str | None = None
    description: str = ""
    # Expert review (REVIEW_POLICIES). None on an upsert keeps the domain's policy (auto for
    # a new domain): what UpsertDomain without a policy and the SDK's default send.
    review_policy: str | None = "auto"
    review_threshold: float = 0.0


def check_domain_name(name: str, field: str = "domain") -> str:
    if not DOMAIN_NAME.match(name or ""):
        raise DomainError(
            f"{field} {name!r} is invalid: use 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


def check_review_policy(policy: str | None, threshold: float) -> None:
    """A known policy; a threshold in [0, 1) for required_above and 0 otherwise (it would mean nothing)."""
    if policy is not None and policy not in REVIEW_POLICIES:
        raise DomainError(f"review_policy must be one of {list(REVIEW_POLICIES)}, got {policy!r}")
    number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool) and math.isfinite(threshold)
    if policy == "required_above":
        if not number or not 0.0 <= threshold < 1.0:
            raise DomainError(
                f"review_threshold must be a share of changed held-out answers in [0, 1) for required_above, got {threshold!r}"
            )
    elif not number or threshold != 0:
        raise DomainError(f"review_threshold applies only to review_policy 'required_above'; got {threshold!r} with {policy!r}")


_SELECT = "SELECT name, parent, description, review_policy, review_threshold FROM domains"


def get_domain(db: Database, name: str) -> DomainRecord | None:
    row = db.cursor().execute(f"{_SELECT} WHERE name = ?", [name]).fetchone()
    return DomainRecord(*row) if row else None


def list_domains(db: Database) -> list[DomainRecord]:
    rows = db.cursor().execute(f"{_SELECT} ORDER BY name").fetchall()
    return [DomainRecord(*row) for row in rows]


def chain(db: Database, name: str) -> list[str]:
    """The domain's ancestry, root first and the domain last (e.g. legal, contracts)."""
    parents = dict(db.cursor().execute("SELECT name, parent FROM domains").fetchall())
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


def upsert_domain(db: Database, record: DomainRecord) -> DomainRecord:
    """Create or update a domain; refuses a parent that is unknown or would make a cycle,
    and a bad review policy (nothing stored)."""
    check_domain_name(record.name)
    check_review_policy(record.review_policy, record.review_threshold)
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
            INSERT INTO domains (name, parent, description, review_policy, review_threshold)
            VALUES (?, ?, ?, coalesce(?, 'auto'), ?)
            ON CONFLICT (name) DO UPDATE SET parent = excluded.parent, description = excluded.description,
                review_policy = CASE WHEN ? THEN domains.review_policy ELSE excluded.review_policy END,
                review_threshold = CASE WHEN ? THEN domains.review_threshold ELSE excluded.review_threshold END
            """,
            [record.name, parent, record.description, record.review_policy, float(record.review_threshold),
             record.review_policy is None, record.review_policy is None],
        )
    stored = get_domain(db, record.name)
    assert stored is not None
    return stored


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
