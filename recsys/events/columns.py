"""A batch of interactions as columns: the one shape validation and the store work on.

Both ingestion paths meet here: the gRPC servicer fills the columns straight from
protobuf messages and the direct path fills them from ``Interaction`` objects, so
neither pays for the other's representation and both share one validation and one
append.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable, Sequence

import pyarrow as pa

from recsys.events.model import Feedback, Interaction

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ONE_MICROSECOND = timedelta(microseconds=1)

# The columns, in the order of the ``interactions`` table (seq and received_at are the store's).
COLUMN_NAMES: tuple[str, ...] = (
    "event_id",
    "user_id",
    "domain",
    "input_text",
    "model_output",
    "feedback",
    "correction",
    "variant_id",
    "event_time",
    "attributes",
)

SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("domain", pa.string()),
        ("input_text", pa.string()),
        ("model_output", pa.string()),
        ("feedback", pa.string()),
        ("correction", pa.string()),
        ("variant_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("attributes", pa.map_(pa.string(), pa.string())),
    ]
)


def to_epoch_us(value: object) -> int | None:
    """Microseconds since the epoch for an aware datetime; None for anything else (naive too)."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        return None
    return (value - EPOCH) // ONE_MICROSECOND


MIN_TIME = datetime.min.replace(tzinfo=timezone.utc)
MAX_TIME = datetime.max.replace(tzinfo=timezone.utc)
MIN_EPOCH_US = to_epoch_us(MIN_TIME)
MAX_EPOCH_US = to_epoch_us(MAX_TIME)


def from_epoch_us(value: int) -> datetime:
    """The aware datetime; a stored value outside Python's years 1-9999 is clamped to that range,
    so reading the log never fails on what an older version let in."""
    return EPOCH + min(max(value, MIN_EPOCH_US), MAX_EPOCH_US) * ONE_MICROSECOND


@dataclass
class EventColumns:
    """Parallel lists, one entry per event; ``feedback`` holds the raw value sent.

    ``event_time_us`` is None when the event has no usable time (missing, naive);
    validation rejects those events rather than guessing a timezone. ``event_time_errors``
    maps an event's index to why its time could not be read at all (out of range), for
    validation to report per event.
    """

    event_id: list[str] = field(default_factory=list)
    user_id: list[str] = field(default_factory=list)
    domain: list[str] = field(default_factory=list)
    input_text: list[str] = field(default_factory=list)
    model_output: list[str] = field(default_factory=list)
    feedback: list[str] = field(default_factory=list)
    correction: list[str] = field(default_factory=list)
    variant_id: list[str] = field(default_factory=list)
    event_time_us: list[int | None] = field(default_factory=list)
    attributes: list[dict[str, str]] = field(default_factory=list)
    event_time_errors: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lengths = {name: len(getattr(self, name)) for name in self._fields()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"columns have different lengths: {lengths}")

    def __len__(self) -> int:
        return len(self.event_id)

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return COLUMN_NAMES[:-2] + ("event_time_us", "attributes")

    @classmethod
    def from_interactions(cls, events: Iterable[Interaction]) -> EventColumns:
        events = list(events)
        return cls(
            event_id=[e.event_id for e in events],
            user_id=[e.user_id for e in events],
            domain=[e.domain for e in events],
            input_text=[e.input_text for e in events],
            model_output=[e.model_output for e in events],
            feedback=[_feedback_value(e.feedback) for e in events],
            correction=[e.correction for e in events],
            variant_id=[e.variant_id for e in events],
            event_time_us=[to_epoch_us(e.event_time) for e in events],
            attributes=[e.attributes for e in events],
        )

    def to_arrow(self) -> pa.Table:
        """The batch as an Arrow table with ``SCHEMA``; a non-string value raises TypeError naming its column."""
        arrays = []
        for name, column in zip(COLUMN_NAMES, self._column_values()):
            try:
                arrays.append(pa.array(column, type=SCHEMA.field(name).type))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise TypeError(f"interactions: column {name} must hold strings ({exc})") from exc
        return pa.Table.from_arrays(arrays, schema=SCHEMA)

    def _column_values(self) -> Sequence[list]:
        return (
            self.event_id,
            self.user_id,
            self.domain,
            self.input_text,
            self.model_output,
            self.feedback,
            self.correction,
            self.variant_id,
            self.event_time_us,
            self.attributes,
        )


def _feedback_value(value: object) -> str:
    if isinstance(value, Feedback):
        return value.value
    return value if isinstance(value, str) else str(value)

