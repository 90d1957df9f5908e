"""Ingestion over time: events received per time bucket and feedback kind (the dashboard's view).

Bucketed by ``received_at`` (when the server stored them), not the client's event time,
so the plot shows the load the server took. The bucket width follows the span of the log
so a plot has tens of bars, not thousands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from recsys.events.model import Feedback
from recsys.store import Database

# (name for date_trunc, seconds) from finest to coarsest.
BUCKETS = (("minute", 60), ("hour", 3600), ("day", 86400))
MAX_BARS = 120


@dataclass(frozen=True)
class TimelineRow:
    start: datetime
    counts: dict[str, int]  # feedback value -> events

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Timeline:
    bucket: str  # "minute", "hour" or "day"
    bucket_seconds: int
    rows: list[TimelineRow]

    @property
    def total(self) -> int:
        return sum(row.total for row in self.rows)


def ingestion_timeline(db: Database, *, domain: str | None = None) -> Timeline:
    """Events per bucket and feedback, oldest first; the bucket is the finest giving <= MAX_BARS bars."""
    where, params = ("WHERE domain = ?", [domain]) if domain else ("", [])
    cursor = db.cursor()
    low, high = cursor.execute(f"SELECT epoch(min(received_at)), epoch(max(received_at)) FROM interactions {where}",
                               params).fetchone()
    span = (high - low) if low is not None else 0.0
    bucket, seconds = next(((name, s) for name, s in BUCKETS if span / s <= MAX_BARS), BUCKETS[-1])
    rows = cursor.execute(
        f"SELECT date_trunc('{bucket}', received_at) AS t, feedback, count(*) FROM interactions {where} "
        "GROUP BY t, feedback ORDER BY t",
        params,
    ).fetchall()
    merged: dict[datetime, dict[str, int]] = {}
    for start, feedback, count in rows:
        merged.setdefault(start, {f.value: 0 for f in Feedback})[feedback] = int(count)
    return Timeline(bucket, seconds, [TimelineRow(start, counts) for start, counts in merged.items()])
