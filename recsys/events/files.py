"""Interactions from JSONL or CSV text, each error naming its line: the front door for files.

JSONL: one object per line with the fields of ``Interaction`` (``event_time`` ISO 8601
with a zone; ``correction``, ``variant_id``, ``attributes`` optional). CSV: a header row
and a mapping from ``Interaction`` fields to column names (``input=text``); a field
``attributes.KEY`` reads one attribute. A time without a zone is an error naming the
line unless ``assume_utc`` is set: guessing the zone would silently shift events.
"""

from __future__ import annotations

import csv
import json
from dataclasses import fields
from datetime import datetime, timezone
from typing import Iterable, Iterator, Mapping

from recsys.events.model import Feedback, Interaction

REQUIRED_FIELDS = ("event_id", "user_id", "domain", "input_text", "feedback")
EVENT_FIELDS = tuple(f.name for f in fields(Interaction) if f.name not in ("attributes", "seq"))
# Short names a CSV mapping may use for the long field names.
FIELD_ALIASES = {"id": "event_id", "user": "user_id", "input": "input_text", "output": "model_output",
                 "time": "event_time", "variant": "variant_id"}  # fmt: skip
ATTRIBUTE_PREFIX = "attributes."


class EventFileError(ValueError):
    """A line of an event file cannot become an interaction; the message names the line."""


def parse_event_time(value: object, where: str, *, assume_utc: bool = False, naive_hint: str = "") -> datetime:
    """An aware datetime from ISO 8601 text; a naive one only with ``assume_utc``."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise EventFileError(f"{where}: event_time {value!r} is not ISO 8601 (e.g. 2026-01-01T12:00:00+00:00)") from None
    if when.tzinfo is None or when.utcoffset() is None:
        if not assume_utc:
            raise EventFileError(
                f"{where}: event_time {value!r} has no timezone; write it with one (e.g. {when.isoformat()}+00:00 "
                f"or Z){naive_hint}"
            )
        when = when.replace(tzinfo=timezone.utc)
    return when


def parse_record(row: Mapping[str, object], where: str, *, now: datetime, assume_utc: bool = False,
                 naive_hint: str = "") -> Interaction:  # fmt: skip
    """One interaction from a mapping of field names; a missing ``event_time`` means ``now``."""
    missing = [name for name in REQUIRED_FIELDS if row.get(name) in (None, "")]
    if missing:
        raise EventFileError(f"{where}: missing fields {missing}")
    try:
        feedback = Feedback(row["feedback"])
    except ValueError:
        raise EventFileError(f"{where}: feedback {row['feedback']!r} is not one of {[f.value for f in Feedback]}") from None
    when = now
    if row.get("event_time"):
        when = parse_event_time(row["event_time"], where, assume_utc=assume_utc, naive_hint=naive_hint)
    attributes = row.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise EventFileError(f"{where}: attributes must be an object of strings, got {attributes!r}")
    seq = row.get("seq")
    return Interaction(
        event_id=str(row["event_id"]),
        user_id=str(row["user_id"]),
        domain=str(row["domain"]),
        input_text=str(row["input_text"]),
        model_output=str(row.get("model_output") or ""),
        feedback=feedback,
        event_time=when,
        correction=str(row.get("correction") or ""),
        variant_id=str(row.get("variant_id") or ""),
        attributes={str(k): str(v) for k, v in attributes.items()},
        seq=int(seq) if seq not in (None, "") else None,
    )


def parse_json_line(number: int, line: str, *, now: datetime, assume_utc: bool = False, naive_hint: str = "") -> Interaction:
    where = f"line {number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise EventFileError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(row, dict):
        raise EventFileError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return parse_record(row, where, now=now, assume_utc=assume_utc, naive_hint=naive_hint)


def read_jsonl(lines: Iterable[str], *, assume_utc: bool = False, naive_hint: str = "",
               now: datetime | None = None) -> Iterator[tuple[int, Interaction]]:  # fmt: skip
    """(line number, interaction) for every non-blank line; the first bad line raises EventFileError."""
    now = now or datetime.now(timezone.utc)
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield number, parse_json_line(number, line, now=now, assume_utc=assume_utc, naive_hint=naive_hint)


def parse_mapping(text: str) -> dict[str, str]:
    """``input=text,domain=area`` -> {field: column}; unmapped fields keep their own name as column."""
    mapping: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        field, sep, column = part.partition("=")
        field = FIELD_ALIASES.get(field.strip(), field.strip())
        if not sep or not column.strip():
            raise EventFileError(f"--map entry {part!r} is not FIELD=COLUMN")
        if field not in EVENT_FIELDS and not (field.startswith(ATTRIBUTE_PREFIX) and len(field) > len(ATTRIBUTE_PREFIX)):
            known = ", ".join(EVENT_FIELDS + (ATTRIBUTE_PREFIX + "KEY",))
            raise EventFileError(f"--map field {field!r} is not an interaction field; use one of {known}")
        mapping[field] = column.strip()
    return mapping


def read_csv(lines: Iterable[str], mapping: Mapping[str, str] | None = None, *, assume_utc: bool = False,
             naive_hint: str = "", now: datetime | None = None) -> Iterator[tuple[int, Interaction]]:  # fmt: skip
    """(line number, interaction) per CSV row; columns come from ``mapping`` (field -> column)."""
    now = now or datetime.now(timezone.utc)
    mapping = dict(mapping or {})
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    columns = {field: mapping.get(field, field) for field in EVENT_FIELDS}
    absent = [f"{field} (column {columns[field]!r})" for field in REQUIRED_FIELDS if columns[field] not in header]
    absent += [f"{field} (column {column!r})" for field, column in mapping.items()
               if field.startswith(ATTRIBUTE_PREFIX) and column not in header]  # fmt: skip
    if absent:
        raise EventFileError(f"line 1: the CSV header {header} has no column for {', '.join(absent)}; map them with --map FIELD=COLUMN")
    attributes = {f[len(ATTRIBUTE_PREFIX):]: c for f, c in mapping.items() if f.startswith(ATTRIBUTE_PREFIX)}
    for row in reader:
        values: dict[str, object] = {field: row.get(column) for field, column in columns.items() if column in header}
        values["attributes"] = {key: row.get(column) or "" for key, column in attributes.items()}
        yield reader.line_num, parse_record(values, f"line {reader.line_num}", now=now, assume_utc=assume_utc, naive_hint=naive_hint)


def interaction_to_json(event: Interaction) -> dict:
    """The JSONL form of an interaction (what ``parse_record`` reads back); ``seq`` is the store's, left out."""
    row: dict[str, object] = {
        "event_id": event.event_id, "user_id": event.user_id, "domain": event.domain, "input_text": event.input_text,
        "model_output": event.model_output, "feedback": event.feedback.value, "event_time": event.event_time.isoformat(),
    }  # fmt: skip
    for name in ("correction", "variant_id"):
        if getattr(event, name):
            row[name] = getattr(event, name)
    if event.attributes:
        row["attributes"] = dict(event.attributes)
    return row
