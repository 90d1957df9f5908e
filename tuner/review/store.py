"""The ``reviews`` table: one row per candidate a review policy held, and its outcome.

Rows are inserted by the cycle in its closing transaction (``held_statements``), next to
the adapter row whose status is ``awaiting_review``; ``decisions`` changes both together.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from recsys.store import Database
from tuner.review.policy import Hold

# awaiting: held; approved: promoted by a reviewer; rejected: by a reviewer or expired;
# superseded: a newer candidate of the domain replaced it.
STATUSES = ("awaiting", "approved", "rejected", "superseded")

_COLUMNS = (
    "domain, version, status, cycle_id, champion_version, policy, threshold, change_rate, evidence_json, "
    "created_at, decided_at, decided_by, reason"
)


@dataclass(frozen=True)
class ReviewRecord:
    domain: str
    version: str
    status: str
    cycle_id: str
    # The champion the gate compared against; None: the base model (no champion then).
    champion_version: str | None
    policy: str
    threshold: float
    change_rate: float
    evidence: dict[str, Any]
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    reason: str | None

    @classmethod
    def from_row(cls, row: tuple) -> "ReviewRecord":
        *head, evidence_json, created, decided, by, reason = row
        return cls(*head, json.loads(evidence_json), created, decided, by, reason)

    def expires_at(self, max_age_hours: float) -> datetime:
        return self.created_at + timedelta(hours=max_age_hours)


def check_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        raise ValueError(f"status must be one of {list(STATUSES)}, got {status!r}")
    return status


def _select(db: Database, where: str, params: list) -> list[ReviewRecord]:
    rows = db.cursor().execute(f"SELECT {_COLUMNS} FROM reviews WHERE {where}", params).fetchall()
    return [ReviewRecord.from_row(row) for row in rows]


def get_review(db: Database, domain: str, version: str) -> ReviewRecord:
    found = _select(db, "domain = ? AND version = ?", [domain, version])
    if not found:
        raise LookupError(f"no review of {domain!r} version {version!r}: it was never held for review")
    return found[0]


def list_reviews(db: Database, domain: str | None = None, status: str | None = None) -> list[ReviewRecord]:
    """Awaiting reviews first (oldest first: they expire soonest), then the decided, newest first."""
    check_status(status)
    return _select(
        db,
        "(CAST(? AS VARCHAR) IS NULL OR domain = ?) AND (CAST(? AS VARCHAR) IS NULL OR status = ?) "
        "ORDER BY status <> 'awaiting', CASE WHEN status = 'awaiting' THEN epoch(created_at) "
        "ELSE -epoch(coalesce(decided_at, created_at)) END, domain, version",
        [domain, domain, status, status],
    )


def reviews_by_version(db: Database, domain: str | None = None) -> dict[tuple[str, str], ReviewRecord]:
    """Every review by (domain, version), for adapter listings; empty on a database opened
    read-only from before migration i16_review (read-only never migrates)."""
    exists = db.cursor().execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'reviews'"
    ).fetchone()[0]
    return {(r.domain, r.version): r for r in list_reviews(db, domain)} if exists else {}


def held_statements(
    domain: str, version: str, cycle_id: str, champion_version: str | None, hold: Hold, evidence: dict
) -> list[tuple[str, list]]:
    """The review row of a candidate held by ``hold``; run with its adapter row."""
    return [(
        "INSERT INTO reviews (domain, version, status, cycle_id, champion_version, policy, threshold, change_rate, "
        "evidence_json) VALUES (?, ?, 'awaiting', ?, ?, ?, ?, ?, ?)",
        [domain, version, cycle_id, champion_version, hold.policy, hold.threshold, hold.change_rate,
         json.dumps(evidence, default=str)],
    )]  # fmt: skip


def supersede_statements(domain: str, newer: str, cycle_id: str) -> list[tuple[str, list]]:
    """A passing newer candidate replaces the domain's waiting one: rejected, recorded as superseded."""
    return [
        ("UPDATE adapters SET status = 'rejected' WHERE domain = ? AND status = 'awaiting_review'", [domain]),
        (
            "UPDATE reviews SET status = 'superseded', decided_at = now(), decided_by = ?, reason = ? "
            "WHERE domain = ? AND status = 'awaiting'",
            [f"cycle {cycle_id}", f"superseded by {newer}, a newer candidate that passed the gate", domain],
        ),
    ]


def note_in_cycle(cursor, review: ReviewRecord, note: dict) -> None:
    """Add a decision to the summary of the cycle that held the candidate, so its history shows it.

    Runs on the caller's cursor, inside the decision's transaction.
    """
    row = cursor.execute("SELECT summary_json FROM cycles WHERE cycle_id = ?", [review.cycle_id]).fetchone()
    if row is None:
        return
    summary = json.loads(row[0] or "{}")
    summary.setdefault("reviews", {})[f"{review.domain}/{review.version}"] = note
    cursor.execute(
        "UPDATE cycles SET summary_json = ? WHERE cycle_id = ?", [json.dumps(summary, sort_keys=True, default=str), review.cycle_id]
    )
