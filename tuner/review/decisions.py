"""A person's decision on a held candidate, and expiry: each one transaction.

Approve promotes the candidate (the champion retired) only while the domain's champion
is still the one the gate compared against; reject and expiry mark it rejected. The
review row records who, when and why, and the summary of the cycle that held it gets
the same note (the cycle history shows decisions).
"""

from __future__ import annotations

from datetime import datetime, timezone

from recsys.store import Database
from tuner.review.errors import ReviewStateError
from tuner.review.store import ReviewRecord, _select, get_review, note_in_cycle

# Who an expiry is recorded as.
EXPIRY = "adaptune (expiry)"


def check_reason(reason: str | None, *, required: bool) -> str:
    text = (reason or "").strip()
    if required and not text:
        raise ValueError("reason must say why the candidate is rejected (it is recorded with the decision)")
    if len(text) > 2000:
        raise ValueError(f"reason must be at most 2000 characters, got {len(text)}")
    return text


def _check_reviewer(reviewer: str) -> str:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ValueError(f"reviewer must name who decides, got {reviewer!r}")
    return reviewer


def _require_awaiting(cursor, domain: str, version: str) -> None:
    """Checked inside the decision's transaction: two reviewers cannot both decide."""
    review_row = cursor.execute("SELECT status FROM reviews WHERE domain = ? AND version = ?", [domain, version]).fetchone()
    if review_row is None:
        raise LookupError(f"no review of {domain!r} version {version!r}: it was never held for review")
    if review_row[0] != "awaiting":
        raise ReviewStateError(f"the review of {domain!r} {version} is already {review_row[0]}; nothing changed")


def _decide(cursor, review: ReviewRecord, status: str, reviewer: str, reason: str) -> None:
    cursor.execute(
        "UPDATE reviews SET status = ?, decided_at = now(), decided_by = ?, reason = ? WHERE domain = ? AND version = ?",
        [status, reviewer, reason, review.domain, review.version],
    )
    note = {"decision": status, "by": reviewer, "at": datetime.now(timezone.utc).isoformat(), "reason": reason}
    note_in_cycle(cursor, review, note)


def approve(db: Database, domain: str, version: str, reviewer: str, reason: str = "") -> ReviewRecord:
    """Promote the held candidate; ReviewStateError when the champion changed since the gate."""
    reviewer, reason = _check_reviewer(reviewer), check_reason(reason, required=False)
    review = get_review(db, domain, version)
    with db.write_lock, db.transaction() as cursor:
        _require_awaiting(cursor, domain, version)
        current = cursor.execute("SELECT version FROM adapters WHERE domain = ? AND status = 'champion'", [domain]).fetchone()
        now = current[0] if current else None
        if now != review.champion_version:
            raise ReviewStateError(
                f"the champion of {domain!r} is {now or 'none'} now, but {version} was compared against "
                f"{review.champion_version or 'the base model'}; nothing changed: reject it and let the next cycle "
                "compare a new candidate with the current champion"
            )
        cursor.execute("UPDATE adapters SET status = 'retired' WHERE domain = ? AND status = 'champion'", [domain])
        cursor.execute(
            "UPDATE adapters SET status = 'champion', promoted_at = now(), rolled_back_at = NULL WHERE domain = ? AND version = ?",
            [domain, version],
        )
        _decide(cursor, review, "approved", reviewer, reason)
    return get_review(db, domain, version)


def reject(db: Database, domain: str, version: str, reviewer: str, reason: str) -> ReviewRecord:
    """Keep the champion; the candidate becomes rejected with the reviewer's reason."""
    reviewer, reason = _check_reviewer(reviewer), check_reason(reason, required=True)
    review = get_review(db, domain, version)
    with db.write_lock, db.transaction() as cursor:
        _require_awaiting(cursor, domain, version)
        cursor.execute("UPDATE adapters SET status = 'rejected' WHERE domain = ? AND version = ?", [domain, version])
        _decide(cursor, review, "rejected", reviewer, reason)
    return get_review(db, domain, version)


def expire(db: Database, max_age_hours: float) -> list[ReviewRecord]:
    """Reject every review awaiting longer than ``max_age_hours``; returns them as decided."""
    if isinstance(max_age_hours, bool) or not isinstance(max_age_hours, (int, float)) or not max_age_hours > 0:
        raise ValueError(f"max_age_hours must be a number > 0, got {max_age_hours!r}")
    reason = f"expired: unreviewed for more than {max_age_hours:g} hours"
    stale = _select(db, "status = 'awaiting' AND created_at < now() - to_microseconds(CAST(? * 3600e6 AS BIGINT))",
                    [float(max_age_hours)])
    expired = []
    for review in stale:
        with db.write_lock, db.transaction() as cursor:
            try:
                _require_awaiting(cursor, review.domain, review.version)
            except ReviewStateError:  # decided meanwhile
                continue
            cursor.execute("UPDATE adapters SET status = 'rejected' WHERE domain = ? AND version = ?",
                           [review.domain, review.version])
            _decide(cursor, review, "rejected", EXPIRY, reason)
        expired.append(get_review(db, review.domain, review.version))
    return expired
