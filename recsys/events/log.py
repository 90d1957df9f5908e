"""Appending events to the store: validated, batched, idempotent by event id, one commit per batch.

The caller learns what happened to every event of the batch only after the commit, so a
server can acknowledge exactly what is durable. Rejected events write nothing; valid
events of the same batch are stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.domains import ensure_domains
from recsys.events.columns import COLUMN_NAMES, EventColumns
from recsys.events.model import Interaction
from recsys.events.validate import DEFAULT_LIMITS, EventLimits, Violation, check_batch_size, validate_table
from recsys.store import Database, accepts_path

_COLUMNS_SQL = ", ".join(COLUMN_NAMES)
_INSERT_SQL = (
    f"INSERT INTO interactions ({_COLUMNS_SQL}) SELECT {_COLUMNS_SQL} FROM incoming_events "
    "ON CONFLICT (event_id) DO NOTHING"
)


@dataclass(frozen=True)
class AppendResult:
    """What became of one batch: stored now, already stored (or repeated in the batch), refused."""

    accepted: int
    duplicates: int
    rejections: list[Violation] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)


@accepts_path(read_only=False)
def append_interactions(
    db: Database, events: Iterable[Interaction], *, limits: EventLimits = DEFAULT_LIMITS, now: datetime | None = None
) -> AppendResult:
    """Validate and store ``Interaction`` objects in one transaction (the direct, no-gRPC path)."""
    return append_columns(db, EventColumns.from_interactions(events), limits=limits, now=now)


def append_columns(
    db: Database, columns: EventColumns, *, limits: EventLimits = DEFAULT_LIMITS, now: datetime | None = None
) -> AppendResult:
    """Validate and store a batch in columns; returns once the batch is committed.

    Raises ``BatchTooLargeError`` (nothing stored) when the batch is over
    ``limits.max_batch_events``. An event id seen earlier, or earlier in the same
    batch, counts as a duplicate and changes nothing.
    """
    return _commit(db, _prepare(db, columns, limits, now))


@dataclass(frozen=True)
class _Prepared:
    unique: pa.Table  # valid events, first occurrence of each id
    repeated_in_batch: int
    rejections: list[Violation]


def _prepare(db: Database, columns: EventColumns, limits: EventLimits, now: datetime | None) -> _Prepared:
    check_batch_size(len(columns), limits)
    if db.read_only:
        raise PermissionError(f"database {db.path} is open read-only; only the server process writes events")
    table = columns.to_arrow()
    rejections = validate_table(table, limits, now, columns.event_time_errors)
    table = _drop_rejected(table, rejections)
    unique = _first_occurrences(table)
    return _Prepared(unique, table.num_rows - unique.num_rows, rejections)


def _commit(db: Database, prepared: _Prepared) -> AppendResult:
    rows = prepared.unique.num_rows
    inserted = _insert(db, prepared.unique) if rows else 0
    return AppendResult(
        accepted=inserted,
        duplicates=prepared.repeated_in_batch + (rows - inserted),
        rejections=prepared.rejections,
    )


def _drop_rejected(table: pa.Table, rejections: list[Violation]) -> pa.Table:
    if not rejections:
        return table
    keep = np.ones(table.num_rows, dtype=bool)
    keep[[v.index for v in rejections]] = False
    return table.filter(pa.array(keep))


def _first_occurrences(table: pa.Table) -> pa.Table:
    """The batch without later repeats of an event id (the first one wins, as it would across batches)."""
    ids = table.column("event_id")
    if pc.count_distinct(ids).as_py() == table.num_rows:
        return table
    _, first = np.unique(ids.to_numpy(zero_copy_only=False).astype(object), return_index=True)
    keep = np.zeros(table.num_rows, dtype=bool)
    keep[first] = True
    return table.filter(pa.array(keep))


def _insert(db: Database, table: pa.Table) -> int:
    """One transaction: register the batch's new domains and insert its events; returns rows inserted."""
    domains = pc.unique(table.column("domain")).to_pylist()
    with db.write_lock, db.transaction() as cursor:
        ensure_domains(db, domains, cursor=cursor)
        cursor.register("incoming_events", table)
        inserted = cursor.execute(_INSERT_SQL).fetchone()[0]
    return int(inserted)
