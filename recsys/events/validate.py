"""Validation of interaction events against limits, one rule set for every ingestion path.

The rules run column-wise over an Arrow batch (see ``recsys.events.columns``) so a
batch of thousands costs a few vectorized passes, not a Python loop per event. Each
rejected event gets the first rule it breaks, in field order, with a reason that
names the field and the bad value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.domains import DOMAIN_NAME_RULE, domain_names_valid, short_repr
from recsys.events.columns import MAX_EPOCH_US, MIN_EPOCH_US, EventColumns, from_epoch_us, to_epoch_us
from recsys.events.model import Feedback, Interaction

FEEDBACK_VALUES: tuple[str, ...] = tuple(f.value for f in Feedback)


@dataclass(frozen=True)
class EventLimits:
    """What one event and one batch may hold; the server fills it from its config."""

    max_id_chars: int = 128
    max_text_chars: int = 16_384
    max_attributes: int = 32
    max_attribute_chars: int = 256
    # Clocks drift: an event may claim a time this far ahead of the receiver's clock.
    max_future_skew_s: float = 300.0
    max_batch_events: int = 10_000

    def __post_init__(self) -> None:
        for name in ("max_id_chars", "max_text_chars", "max_attributes", "max_attribute_chars", "max_batch_events"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        skew = self.max_future_skew_s
        if isinstance(skew, bool) or not isinstance(skew, (int, float)) or not 0 <= skew < float("inf"):
            raise ValueError(f"max_future_skew_s must be a finite number >= 0, got {skew!r}")


DEFAULT_LIMITS = EventLimits()


@dataclass(frozen=True)
class Violation:
    """The first rule an event breaks; ``index`` is its position in the batch."""

    index: int
    event_id: str
    field: str
    reason: str

    @property
    def message(self) -> str:
        return f"interactions[{self.index}] (event_id {self.event_id!r}): {self.reason}"


class InvalidEventError(ValueError):
    """A single event was refused (unary paths); carries the violation."""

    def __init__(self, violation: Violation):
        super().__init__(violation.message)
        self.violation = violation


class BatchTooLargeError(ValueError):
    """A batch holds more events than ``EventLimits.max_batch_events``; nothing of it is stored."""

    def __init__(self, size: int, limit: int, batch_index: int | None = None):
        where = f"batch {batch_index}" if batch_index is not None else "batch"
        super().__init__(
            f"interactions: {where} has {size} events, over the limit of {limit} per batch; "
            "split it into smaller batches"
        )
        self.size = size
        self.limit = limit


def check_batch_size(size: int, limits: EventLimits, batch_index: int | None = None) -> None:
    if size > limits.max_batch_events:
        raise BatchTooLargeError(size, limits.max_batch_events, batch_index)


@dataclass(frozen=True)
class _Rule:
    field: str
    broken: np.ndarray  # bool per event
    describe: Callable[[int], str]  # reason for event i (called only for rejected events)


def validate_table(
    table: pa.Table,
    limits: EventLimits = DEFAULT_LIMITS,
    now: datetime | None = None,
    time_errors: Mapping[int, str] | None = None,
) -> list[Violation]:
    """Every rejected event of the batch with the first rule it breaks; [] when all are valid.

    ``time_errors``: events whose time could not be read (``EventColumns.event_time_errors``).
    """
    n = table.num_rows
    if n == 0:
        return []
    now_us = to_epoch_us(now or datetime.now(timezone.utc))
    if now_us is None:
        raise ValueError(f"now must be a timezone-aware datetime, got {now!r}")
    rules = _rules(table, limits, now_us, dict(time_errors or {}))
    first_broken = np.full(n, -1, dtype=np.int64)
    for k, rule in enumerate(rules):
        first_broken[rule.broken & (first_broken < 0)] = k
    event_ids = table.column("event_id")
    return [
        Violation(int(i), _clip(event_ids[int(i)].as_py() or ""), rules[k].field, rules[k].describe(int(i)))
        for i, k in ((i, first_broken[i]) for i in np.nonzero(first_broken >= 0)[0])
    ]


def check_interaction(
    event: Interaction, limits: EventLimits = DEFAULT_LIMITS, now: datetime | None = None
) -> Violation | None:
    """The first rule a single event breaks, or None; the same rules as a batch."""
    violations = validate_table(EventColumns.from_interactions([event]).to_arrow(), limits, now)
    return violations[0] if violations else None


def _rules(table: pa.Table, limits: EventLimits, now_us: int, time_errors: dict[int, str]) -> list[_Rule]:
    text = {name: pc.fill_null(table.column(name), "") for name in table.column_names if name not in ("event_time", "attributes")}
    lengths = {name: pc.utf8_length(col).to_numpy() for name, col in text.items()}

    def value(name: str, i: int) -> str:
        return text[name][i].as_py()

    def required(name: str) -> _Rule:
        return _Rule(name, lengths[name] == 0, lambda i: f"{name} is required and was empty")

    def at_most(name: str, limit: int, limit_name: str) -> _Rule:
        return _Rule(
            name,
            lengths[name] > limit,
            lambda i: f"{name} has {lengths[name][i]} characters, over the limit of {limit} ({limit_name})",
        )

    feedback_known = pc.is_in(text["feedback"], value_set=pa.array(FEEDBACK_VALUES)).to_numpy(zero_copy_only=False)
    corrected = pc.equal(text["feedback"], Feedback.CORRECTED.value).to_numpy(zero_copy_only=False)
    domain_ok = domain_names_valid(text["domain"])

    times = table.column("event_time").cast(pa.int64())
    time_missing = pc.is_null(times).to_numpy(zero_copy_only=False)
    time_us = pc.fill_null(times, 0).to_numpy()
    time_missing |= time_us == 0
    unreadable = np.zeros(len(time_us), dtype=bool)
    unreadable[list(time_errors)] = True
    time_missing &= ~unreadable
    skew_us = int(limits.max_future_skew_s * 1_000_000)

    rules = [
        required("event_id"),
        at_most("event_id", limits.max_id_chars, "max_id_chars"),
        required("user_id"),
        at_most("user_id", limits.max_id_chars, "max_id_chars"),
        _Rule(
            "domain",
            ~domain_ok,
            lambda i: f"domain {_short(value('domain', i))} is invalid: {DOMAIN_NAME_RULE}",
        ),
        required("input_text"),
        at_most("input_text", limits.max_text_chars, "max_text_chars"),
        at_most("model_output", limits.max_text_chars, "max_text_chars"),
        _Rule(
            "feedback",
            ~feedback_known,
            lambda i: f"feedback {_short(value('feedback', i))} is not one of {', '.join(FEEDBACK_VALUES)}"
            if value("feedback", i)
            else f"feedback is required: one of {', '.join(FEEDBACK_VALUES)}",
        ),
        _Rule(
            "correction",
            corrected & (lengths["correction"] == 0),
            lambda i: "correction is required when feedback is 'corrected'",
        ),
        at_most("correction", limits.max_text_chars, "max_text_chars"),
        at_most("variant_id", limits.max_id_chars, "max_id_chars"),
        _Rule("event_time", unreadable, lambda i: time_errors[i]),
        _Rule("event_time", time_missing, lambda i: "event_time is required (a timezone-aware time after 1970)"),
        _Rule(
            "event_time",
            ~time_missing & (time_us < 0),
            lambda i: f"event_time {_iso(int(time_us[i]))} is before 1970-01-01T00:00:00Z; send a time after 1970",
        ),
        _Rule(
            "event_time",
            ~time_missing & (time_us > now_us + skew_us),
            lambda i: f"event_time {_iso(int(time_us[i]))} is more than {limits.max_future_skew_s:g} s ahead of "
            f"the receiver's clock ({_iso(now_us)})",
        ),
    ]
    return rules + _attribute_rules(table.column("attributes"), limits)


def _attribute_rules(column: pa.ChunkedArray, limits: EventLimits) -> list[_Rule]:
    maps = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(maps)
    offsets = maps.offsets.to_numpy()
    counts = np.diff(offsets)
    counts[pc.is_null(maps).to_numpy(zero_copy_only=False)] = 0
    start, stop = int(offsets[0]), int(offsets[-1])
    keys = maps.keys.slice(start, stop - start)
    items = maps.items.slice(start, stop - start)
    owner = np.repeat(np.arange(n), np.diff(offsets))
    key_len = pc.utf8_length(pc.fill_null(keys, "")).to_numpy()
    item_len = pc.utf8_length(pc.fill_null(items, "")).to_numpy()

    def per_event(entry_mask: np.ndarray) -> np.ndarray:
        return np.bincount(owner[entry_mask], minlength=n) > 0

    def first_entry(i: int, entry_mask: np.ndarray) -> int:
        return int(np.nonzero(entry_mask & (owner == i))[0][0])

    empty_key = key_len == 0
    long_key = key_len > limits.max_attribute_chars
    long_item = item_len > limits.max_attribute_chars
    limit = limits.max_attribute_chars
    return [
        _Rule(
            "attributes",
            counts > limits.max_attributes,
            lambda i: f"attributes has {counts[i]} entries, over the limit of {limits.max_attributes} (max_attributes)",
        ),
        _Rule("attributes", per_event(empty_key), lambda i: "attributes has an empty key"),
        _Rule(
            "attributes",
            per_event(long_key),
            lambda i: f"attributes key {_short(keys[first_entry(i, long_key)].as_py())} has "
            f"{key_len[first_entry(i, long_key)]} characters, over the limit of {limit} (max_attribute_chars)",
        ),
        _Rule(
            "attributes",
            per_event(long_item),
            lambda i: f"attributes[{keys[first_entry(i, long_item)].as_py()!r}] has "
            f"{item_len[first_entry(i, long_item)]} characters, over the limit of {limit} (max_attribute_chars)",
        ),
    ]


_short = short_repr


def _clip(event_id: str, limit: int = 64) -> str:
    """An event id as echoed back in a rejection: long ids are cut (the index identifies the event)."""
    return event_id if len(event_id) <= limit else event_id[:limit] + "..."


def _iso(us: int) -> str:
    if not MIN_EPOCH_US <= us <= MAX_EPOCH_US:
        return f"{us} us since 1970"
    return from_epoch_us(us).isoformat().replace("+00:00", "Z")
