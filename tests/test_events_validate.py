"""Validation rules: each bad input is named (field, value, index); valid events pass."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from recsys.events.columns import EventColumns
from recsys.events.validate import (
    BatchTooLargeError,
    EventLimits,
    check_batch_size,
    check_interaction,
    validate_table,
)
from tests.fixtures.events import T0, event, events

NOW = T0 + timedelta(days=1)
LIMITS = EventLimits(max_id_chars=20, max_text_chars=50, max_attributes=3, max_attribute_chars=10, max_future_skew_s=60)


def test_valid_events_pass():
    assert validate_table(EventColumns.from_interactions(events(30)).to_arrow(), LIMITS, NOW) == []


@pytest.mark.parametrize(
    "overrides, field, expected",
    [
        ({"event_id": ""}, "event_id", "event_id is required"),
        ({"event_id": "e" * 21}, "event_id", "event_id has 21 characters, over the limit of 20"),
        ({"user_id": ""}, "user_id", "user_id is required"),
        ({"user_id": "u" * 25}, "user_id", "user_id has 25 characters"),
        ({"domain": ""}, "domain", "domain '' is invalid"),
        ({"domain": "Legal Stuff"}, "domain", "domain 'Legal Stuff' is invalid"),
        ({"input_text": ""}, "input_text", "input_text is required"),
        ({"input_text": "x" * 51}, "input_text", "input_text has 51 characters, over the limit of 50 (max_text_chars)"),
        ({"model_output": "y" * 60}, "model_output", "model_output has 60 characters"),
        ({"feedback": "great"}, "feedback", "feedback 'great' is not one of positive, negative, corrected"),
        ({"feedback": ""}, "feedback", "feedback is required"),
        ({"feedback": "corrected", "correction": ""}, "correction", "correction is required when feedback is 'corrected'"),
        ({"feedback": "corrected", "correction": "z" * 51}, "correction", "correction has 51 characters"),
        ({"variant_id": "v" * 21}, "variant_id", "variant_id has 21 characters"),
        ({"event_time": datetime(2026, 1, 5, 9, 30)}, "event_time", "event_time is required (a timezone-aware time"),
        ({"event_time": NOW + timedelta(seconds=61)}, "event_time", "more than 60 s ahead of the receiver's clock"),
        ({"event_time": NOW + timedelta(days=3650)}, "event_time", "event_time 2036-"),
        ({"attributes": {f"k{i}": "v" for i in range(4)}}, "attributes", "attributes has 4 entries, over the limit of 3"),
        ({"attributes": {"": "v"}}, "attributes", "attributes has an empty key"),
        ({"attributes": {"k" * 11: "v"}}, "attributes", "attributes key 'kkkkkkkkkkk' has 11 characters"),
        ({"attributes": {"region": "v" * 11}}, "attributes", "attributes['region'] has 11 characters"),
    ],
)
def test_each_bad_input_names_field_and_value(overrides, field, expected):
    violation = check_interaction(event(1, **overrides), LIMITS, NOW)
    assert violation is not None
    assert violation.field == field
    assert expected in violation.reason
    assert violation.message.startswith("interactions[0] (event_id ")


def test_time_within_skew_is_accepted():
    assert check_interaction(event(1, event_time=NOW + timedelta(seconds=59)), LIMITS, NOW) is None


def test_first_broken_rule_in_field_order_is_reported():
    violation = check_interaction(event(1, user_id="", domain="", feedback="nope"), LIMITS, NOW)
    assert (violation.field, violation.reason) == ("user_id", "user_id is required and was empty")


def test_batch_reports_each_rejected_index_and_only_those():
    batch = events(10)
    batch[3] = event(3, feedback="corrected", correction="")
    batch[7] = event(7, domain="")
    violations = validate_table(EventColumns.from_interactions(batch).to_arrow(), LIMITS, NOW)
    assert [(v.index, v.event_id, v.field) for v in violations] == [(3, "evt-000003", "correction"), (7, "evt-000007", "domain")]
    assert violations[1].message.startswith("interactions[7] (event_id 'evt-000007'): domain '' is invalid")


def test_attribute_rules_look_at_the_right_event():
    batch = [event(0), event(1, attributes={"k" * 11: "v"}), event(2, attributes={})]
    violations = validate_table(EventColumns.from_interactions(batch).to_arrow(), LIMITS, NOW)
    assert [(v.index, v.field) for v in violations] == [(1, "attributes")]


def test_batch_size_limit():
    check_batch_size(5, EventLimits(max_batch_events=5))
    with pytest.raises(BatchTooLargeError, match=r"batch 2 has 6 events, over the limit of 5"):
        check_batch_size(6, EventLimits(max_batch_events=5), batch_index=2)


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_id_chars", 0),
        ("max_text_chars", -1),
        ("max_attributes", 1.5),
        ("max_attribute_chars", True),
        ("max_batch_events", 0),
        ("max_future_skew_s", -1.0),
        ("max_future_skew_s", float("inf")),
    ],
)
def test_limits_refuse_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=rf"{field} must be .* got {value!r}"):
        EventLimits(**{field: value})


def test_now_must_be_aware():
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        check_interaction(event(1), LIMITS, datetime(2026, 1, 1))


def test_default_now_is_the_current_clock():
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert check_interaction(event(1, event_time=soon)) is None
    assert check_interaction(event(1, event_time=later)).field == "event_time"
