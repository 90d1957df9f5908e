"""What the store says about the service at a glance: is it up, how much it holds, how cycles ended.

Read at scrape time by the server's metrics and by the dashboard; every number comes from
the tables, so it survives restarts. A store that cannot answer reports ``up=False``
instead of raising: a health read must not take the scrape down with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from recsys.store import Database

log = logging.getLogger("adaptune.store")

# Cycles whose duration is measured: they started and ended in this store.
_ENDED = ("finished", "failed", "planned")


@dataclass(frozen=True)
class StoreSnapshot:
    up: bool
    events: int = 0
    cycles_by_status: dict[str, int] = field(default_factory=dict)
    # Seconds from start to end of every ended cycle.
    cycle_seconds: list[float] = field(default_factory=list)
    # Unix time the most recent finished cycle ended; None before the first one.
    last_finished_unix: float | None = None


def read_store(db: Database) -> StoreSnapshot:
    """One consistent read of the counts; ``up=False`` when the store is closed or broken."""
    try:
        cursor = db.cursor()
        events = cursor.execute("SELECT count(*) FROM interactions").fetchone()[0]
        statuses = dict(cursor.execute("SELECT status, count(*) FROM cycles GROUP BY status").fetchall())
        seconds = [
            float(row[0]) for row in cursor.execute(
                "SELECT epoch(finished_at) - epoch(started_at) FROM cycles "
                f"WHERE finished_at IS NOT NULL AND status IN ({', '.join('?' for _ in _ENDED)})", list(_ENDED)
            ).fetchall()
        ]
        last = cursor.execute("SELECT max(epoch(finished_at)) FROM cycles WHERE status = 'finished'").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - reported as store_up 0, logged for the operator
        log.warning("store health read failed: %s", exc)
        return StoreSnapshot(up=False)
    return StoreSnapshot(True, int(events), {k: int(v) for k, v in statuses.items()}, seconds,
                         float(last) if last is not None else None)
