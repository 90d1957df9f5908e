"""The ``cycles`` table: one row per tuning cycle, and the watermark the next cycle starts from.

A cycle reads the events with ``watermark_from < seq <= watermark_to`` (ingest order,
never event time: clients send late events). Its row is inserted as ``running`` when it
starts; the registry rows it produced and the row's ``finished`` status commit together
in ``finish_cycle``, so the watermark (the largest ``watermark_to`` of a finished cycle)
only moves when everything the cycle decided is visible. A failed or killed cycle leaves
the watermark where it was and the next one redoes its work. No torch here.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from recsys.store import Database, accepts_path

# running: in progress; finished: committed (moves the watermark); planned: a dry run
# (never moves it); failed: raised or was cancelled; interrupted: found running at startup.
STATUSES = ("running", "finished", "planned", "failed", "interrupted")
END_STATUSES = ("finished", "planned", "failed")
MAX_LIST = 1000

# (sql, params) run inside the cycle's closing transaction, e.g. the registry's rows.
Statement = tuple[str, Sequence[object]]

_COLUMNS = "cycle_id, status, started_at, finished_at, watermark_from, watermark_to, request_json, summary_json, error"


class CycleStateError(RuntimeError):
    """The cycles table does not allow this step (a cycle already runs, or this one is not running)."""


class CycleConflictError(CycleStateError):
    """Something a cycle relied on changed while it ran; nothing of the cycle was committed."""


@dataclass(frozen=True)
class Guard:
    """A query that must still return ``expected`` when the cycle commits, else nothing commits.

    ``message`` says what changed (e.g. "the champion of banking changed while the cycle ran").
    """

    sql: str
    params: tuple
    expected: tuple[tuple, ...]
    message: str


@dataclass(frozen=True)
class CycleRecord:
    cycle_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    watermark_from: int
    watermark_to: int
    request: dict[str, Any]
    summary: dict[str, Any]
    error: str | None

    @classmethod
    def from_row(cls, row: tuple) -> "CycleRecord":
        cycle_id, status, started, finished, low, high, request_json, summary_json, error = row
        return cls(cycle_id, status, started, finished, int(low), int(high), json.loads(request_json),
                   json.loads(summary_json), error)


def new_cycle_id(now: datetime | None = None) -> str:
    """Sortable by start time, unique: ``cycle-20261102-020000-1a2b3c``."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"cycle-{stamp}-{uuid.uuid4().hex[:6]}"


def last_watermark(db: Database) -> int:
    """The ``seq`` up to which finished cycles consumed the log (0 before the first one)."""
    row = db.cursor().execute(
        "SELECT coalesce(max(watermark_to), 0) FROM cycles WHERE status = 'finished'"
    ).fetchone()
    return int(row[0])


def running_cycle(db: Database) -> CycleRecord | None:
    rows = _select(db, "status = 'running' ORDER BY started_at LIMIT 1", [])
    return rows[0] if rows else None


def get_cycle(db: Database, cycle_id: str) -> CycleRecord:
    rows = _select(db, "cycle_id = ?", [cycle_id])
    if not rows:
        raise LookupError(f"no cycle {cycle_id!r}")
    return rows[0]


@accepts_path(read_only=True)
def list_cycles(db: Database, limit: int = 20) -> list[CycleRecord]:
    """The most recent cycles first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise ValueError(f"limit must be an integer in 1..{MAX_LIST}, got {limit!r}")
    return _select(db, "true ORDER BY started_at DESC, cycle_id DESC LIMIT ?", [limit])


def start_cycle(db: Database, request: Mapping[str, Any], *, cycle_id: str | None = None) -> CycleRecord:
    """Insert a ``running`` row covering the events after the watermark, up to the newest now.

    Events that arrive while the cycle runs have larger ``seq`` and wait for the next one.
    Raises CycleStateError naming the running cycle when there is one (one at a time).
    """
    cycle_id = cycle_id or new_cycle_id()
    request_json = json.dumps(dict(request), sort_keys=True)
    with db.write_lock, db.transaction() as cursor:
        running = cursor.execute("SELECT cycle_id FROM cycles WHERE status = 'running' LIMIT 1").fetchone()
        if running:
            raise CycleStateError(f"cycle {running[0]!r} is already running; wait for it to finish")
        low = cursor.execute(
            "SELECT coalesce(max(watermark_to), 0) FROM cycles WHERE status = 'finished'"
        ).fetchone()[0]
        high = cursor.execute("SELECT coalesce(max(seq), 0) FROM interactions").fetchone()[0]
        cursor.execute(
            "INSERT INTO cycles (cycle_id, status, watermark_from, watermark_to, request_json) "
            "VALUES (?, 'running', ?, ?, ?)",
            [cycle_id, int(low), max(int(high), int(low)), request_json],
        )
    return get_cycle(db, cycle_id)


def finish_cycle(
    db: Database,
    cycle_id: str,
    summary: Mapping[str, Any],
    *,
    status: str = "finished",
    statements: Sequence[Statement] = (),
    guards: Sequence[Guard] = (),
) -> CycleRecord:
    """Close a running cycle and run ``statements`` in the same transaction.

    ``status`` is ``finished`` (moves the watermark) or ``planned`` (a dry run). Every
    guard is checked first inside the transaction; a mismatch raises CycleConflictError
    and nothing is written (the row stays ``running`` for ``fail_cycle``).
    """
    if status not in ("finished", "planned"):
        raise ValueError(f"status must be 'finished' or 'planned', got {status!r}")
    summary_json = json.dumps(dict(summary), sort_keys=True, default=str)
    with db.write_lock, db.transaction() as cursor:
        state = cursor.execute("SELECT status FROM cycles WHERE cycle_id = ?", [cycle_id]).fetchone()
        if state is None or state[0] != "running":
            raise CycleStateError(f"cycle {cycle_id!r} is {state[0] if state else 'unknown'}, not running")
        for guard in guards:
            found = tuple(tuple(row) for row in cursor.execute(guard.sql, list(guard.params)).fetchall())
            if found != tuple(guard.expected):
                raise CycleConflictError(f"{guard.message}; nothing was committed, the next cycle redoes the work")
        for sql, params in statements:
            cursor.execute(sql, list(params))
        cursor.execute(
            "UPDATE cycles SET status = ?, finished_at = now(), summary_json = ? WHERE cycle_id = ?",
            [status, summary_json, cycle_id],
        )
    return get_cycle(db, cycle_id)


def fail_cycle(db: Database, cycle_id: str, error: str, summary: Mapping[str, Any] | None = None) -> CycleRecord:
    """Mark a running cycle failed with its error; the watermark does not move."""
    with db.write_lock:
        db.cursor().execute(
            "UPDATE cycles SET status = 'failed', finished_at = now(), error = ?, "
            "summary_json = coalesce(?, summary_json) WHERE cycle_id = ? AND status = 'running'",
            [error, json.dumps(dict(summary), default=str) if summary is not None else None, cycle_id],
        )
    return get_cycle(db, cycle_id)


def note_progress(db: Database, cycle_id: str, summary: Mapping[str, Any]) -> None:
    """Store a running cycle's progress (e.g. the folders it staged) so a restart can clean up."""
    with db.write_lock:
        db.cursor().execute(
            "UPDATE cycles SET summary_json = ? WHERE cycle_id = ? AND status = 'running'",
            [json.dumps(dict(summary), sort_keys=True, default=str), cycle_id],
        )


def interrupt_stale_cycles(db: Database) -> list[CycleRecord]:
    """At startup no cycle can be running: rows still ``running`` were killed mid-way.

    They become ``interrupted``; their watermark never counted, so nothing else changes.
    Returns them as they were (their progress says what they had staged).
    """
    stale = _select(db, "status = 'running'", [])
    if stale:
        with db.write_lock:
            db.cursor().execute(
                "UPDATE cycles SET status = 'interrupted', finished_at = now(), "
                "error = 'the server stopped while the cycle ran (killed or crashed); nothing was committed' "
                "WHERE status = 'running'"
            )
    return stale


def staged_by_interrupted(db: Database) -> list[str]:
    """Adapter folders that interrupted cycles recorded as staged (some may lack a registry row)."""
    rows = db.cursor().execute("SELECT summary_json FROM cycles WHERE status = 'interrupted'").fetchall()
    return sorted({path for (summary,) in rows for path in json.loads(summary).get("staged", [])})


_LABELED = "((feedback = 'corrected' AND correction <> '') OR (feedback = 'positive' AND model_output <> ''))"


def new_labeled_counts(db: Database, until_seq: int, domains: Sequence[str] | None = None) -> dict[str, int]:
    """Per domain, labeled events (corrected, or positive with an answer) up to ``until_seq``
    that no adapter of the domain was trained on yet (``seq`` above its adapters' data window).

    Counting from the domain's own adapters rather than the global watermark lets a domain
    with few events per cycle accumulate them until it has enough.
    """
    if isinstance(until_seq, bool) or not isinstance(until_seq, int) or until_seq < 0:
        raise ValueError(f"until_seq must be an integer >= 0, got {until_seq!r}")
    rows = db.cursor().execute(
        f"""
        SELECT i.domain, count(*) FROM interactions i
        LEFT JOIN (SELECT domain, max(data_to_seq) AS seen FROM adapters GROUP BY domain) a ON a.domain = i.domain
        WHERE i.seq <= ? AND i.seq > coalesce(a.seen, 0) AND {_LABELED}
          AND (CAST(? AS VARCHAR[]) IS NULL OR list_contains(CAST(? AS VARCHAR[]), i.domain))
        GROUP BY i.domain
        """,
        [until_seq, list(domains) if domains is not None else None, list(domains) if domains is not None else None],
    ).fetchall()
    return {str(domain): int(count) for domain, count in rows}


def _select(db: Database, where: str, params: list) -> list[CycleRecord]:
    rows = db.cursor().execute(f"SELECT {_COLUMNS} FROM cycles WHERE {where}", params).fetchall()
    return [CycleRecord.from_row(row) for row in rows]
