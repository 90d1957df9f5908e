"""Domains, their parents (the transfer-learning chains) and their declared label sets."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
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
# A label names a class the model answers with (e.g. CLINC's ``pay_bill``): printable,
# no leading or trailing blank, so it reads the same in logs, heads and corrections.
LABEL_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_\-.:/ ]{0,126}[A-Za-z0-9_\-.:/])?$")
MAX_LABEL_NAME_CHARS = 128
MAX_LABEL_DESCRIPTION_CHARS = 512
MAX_DOMAIN_LABELS = 1000
# auto: the gate alone decides; required: a passing candidate waits for a person;
# required_above: it waits when it changes more than review_threshold of the held-out answers.
REVIEW_POLICIES = ("auto", "required", "required_above")


class DomainError(ValueError):
    """A domain name, parent or chain is invalid; the message names the value."""


class UnknownDomainError(DomainError, LookupError):
    pass


@dataclass(frozen=True)
class DomainLabel:
    """One label of a domain's schema; the description (optional) says what it means."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class DomainRecord:
    """A domain; ``labels`` is its declared label set (may be empty: labels then come from traffic)."""

    name: str
    parent: str | None = None
    description: str = ""
    # Expert review (REVIEW_POLICIES). None on an upsert keeps the domain's policy (auto for
    # a new domain): what UpsertDomain without a policy and the SDK's default send.
    review_policy: str | None = "auto"
    review_threshold: float = 0.0
    labels: tuple[DomainLabel, ...] = ()


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


def check_labels(labels: tuple[DomainLabel, ...], field: str = "labels") -> tuple[DomainLabel, ...]:
    """Refuse a bad label set whole: too many, a bad or duplicate name, a too long description."""
    if len(labels) > MAX_DOMAIN_LABELS:
        raise DomainError(f"{field} has {len(labels)} labels; at most {MAX_DOMAIN_LABELS} are allowed")
    seen: set[str] = set()
    for i, label in enumerate(labels):
        where = f"{field}[{i}]"
        if not isinstance(label.name, str) or not LABEL_NAME.match(label.name):
            raise DomainError(
                f"{where}.name {label.name!r} is invalid: use 1-{MAX_LABEL_NAME_CHARS} letters, digits, spaces or "
                "'_-.:/', starting with a letter or digit and not ending with a space"
            )
        if label.name in seen:
            raise DomainError(f"{where}.name {label.name!r} is a duplicate: each label is declared once")
        seen.add(label.name)
        if not isinstance(label.description, str) or len(label.description) > MAX_LABEL_DESCRIPTION_CHARS:
            raise DomainError(f"{where}.description is longer than {MAX_LABEL_DESCRIPTION_CHARS} characters")
    return labels


def domain_labels(db: Database, name: str) -> tuple[DomainLabel, ...]:
    """The domain's declared labels in the order they were given (() when none)."""
    rows = db.cursor().execute(
        "SELECT name, description FROM domain_labels WHERE domain = ? ORDER BY position", [name]
    ).fetchall()
    return tuple(DomainLabel(*row) for row in rows)


def described(labels: Sequence[DomainLabel]) -> dict[str, str]:
    """Of ``labels``, those that have a description: name -> description."""
    return {label.name: label.description for label in labels if label.description.strip()}


def schema_label_names(db: Database, name: str | None) -> tuple[str, ...]:
    """Names of the domain's declared labels (every domain's, sorted, when ``name`` is None)."""
    if name is not None:
        return tuple(label.name for label in domain_labels(db, name))
    rows = db.cursor().execute("SELECT DISTINCT name FROM domain_labels ORDER BY name").fetchall()
    return tuple(row[0] for row in rows)


def check_description(description: str) -> str:
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        size = len(description) if isinstance(description, str) else type(description).__name__
        raise DomainError(f"description has {size} characters, over the limit of {MAX_DESCRIPTION_CHARS}")
    return description


@accepts_path(read_only=True)
def get_domain(db: Database, name: str) -> DomainRecord | None:
    row = db.cursor().execute(f"{_SELECT} WHERE name = ?", [name]).fetchone()
    return DomainRecord(*row, labels=domain_labels(db, name)) if row else None


@accepts_path(read_only=True)
def list_domains(db: Database) -> list[DomainRecord]:
    rows = db.cursor().execute(f"{_SELECT} ORDER BY name").fetchall()
    labels: dict[str, list[DomainLabel]] = {}
    for domain, name, description in db.cursor().execute(
        "SELECT domain, name, description FROM domain_labels ORDER BY domain, position"
    ).fetchall():
        labels.setdefault(domain, []).append(DomainLabel(name, description))
    return [DomainRecord(*row, labels=tuple(labels.get(row[0], ()))) for row in rows]


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


@accepts_path(read_only=False)
def upsert_domain(db: Database, record: DomainRecord, *, clear_labels: bool = False) -> DomainRecord:
    """Create or update a domain; refuses a parent that is unknown or would make a cycle.

    Non-empty ``record.labels`` replace the declared label set; empty ones keep it (so
    an upsert that only changes the parent loses nothing) unless ``clear_labels``.
    A None ``review_policy`` keeps the stored one (auto for a new domain).
    Everything is checked before anything is written; domain and labels commit together.
    """
    check_domain_name(record.name)
    check_description(record.description)
    labels = check_labels(tuple(record.labels))
    if labels and clear_labels:
        raise DomainError("clear_labels cannot be combined with labels: send one or the other")
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
    with db.write_lock, db.transaction() as cursor:
        cursor.execute(
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
        if labels or clear_labels:
            cursor.execute("DELETE FROM domain_labels WHERE domain = ?", [record.name])
        if labels:
            # One set-based statement (parallel unnests zip), not executemany's statement per label.
            cursor.execute(
                "INSERT INTO domain_labels (domain, position, name, description) "
                "SELECT ?, unnest(?::INTEGER[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])",
                [record.name, list(range(len(labels))), [label.name for label in labels], [label.description for label in labels]],
            )
    return get_domain(db, record.name)


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
