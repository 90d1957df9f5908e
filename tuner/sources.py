"""Where tuning data comes from outside the live log: a JSONL file or a CLINC150 folder.

JSONL: one interaction per line, the fields of ``recsys.events.model.Interaction``::

    {"event_id": "e1", "user_id": "u1", "domain": "banking", "input_text": "...",
     "model_output": "balance", "feedback": "corrected", "correction": "pay_bill",
     "attributes": {"region": "north"}, "event_time": "2026-01-01T00:00:00+00:00"}

``feedback`` is positive, negative or corrected; ``correction``, ``attributes``,
``variant_id`` and ``seq`` are optional; ``event_time`` (ISO 8601 with a zone) defaults
to the time of reading. Events go through the same validation as ingestion.
CLINC150 keeps its own train/validation/test splits; its intents are the labels.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from recsys.datasets import clinc150
from recsys.events.columns import EventColumns
from recsys.events.files import parse_json_line
from recsys.events.model import Interaction
from recsys.events.validate import validate_table
from tuner.data import DataSplit, Example, split_interactions


def read_interactions_jsonl(path: str | Path) -> list[Interaction]:
    """Every interaction of a JSONL file; the first bad line raises ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    now = datetime.now(timezone.utc)
    numbered = [(n, line) for n, line in enumerate(path.read_text().splitlines(), start=1) if line.strip()]
    events = [parse_json_line(n, line, now=now) for n, line in numbered]
    if events:
        violations = validate_table(EventColumns.from_interactions(events).to_arrow())
        if violations:
            first = violations[0]
            raise ValueError(f"{path}: line {numbered[first.index][0]} (event_id {first.event_id!r}): {first.reason}")
    return events


def jsonl_split(path: str | Path, domain: str, *, validation: float = 0.1, test: float = 0.1) -> DataSplit:
    """The domain's events of a JSONL file, split by event id."""
    events = [e for e in read_interactions_jsonl(path) if e.domain == domain]
    return split_interactions(events, validation=validation, test=test)


def clinc_split(
    folder: str | Path | None, domain: str, *, per_label: int | None = None, seed: int = 0
) -> DataSplit:
    """CLINC150's own splits for one domain; ``per_label`` caps training examples per intent."""
    data = clinc150.load(folder)
    if domain not in data.domains:
        raise ValueError(f"domain {domain!r} is not a CLINC150 domain; choose from {sorted(data.domains)}")
    if per_label is not None and per_label < 1:
        raise ValueError(f"per_label must be >= 1, got {per_label!r}")

    def examples(split: str, rows, cap: int | None) -> list[Example]:
        chosen = [(i, row) for i, row in enumerate(rows) if row.domain == domain]
        if cap is not None:
            by_label: dict[str, list] = defaultdict(list)
            for item in chosen:
                by_label[item[1].intent].append(item)
            rng = random.Random(seed)
            chosen = sorted(item for group in by_label.values() for item in rng.sample(group, min(cap, len(group))))
        return [Example(f"clinc-{split}-{i}", row.text, row.intent, domain=row.domain) for i, row in chosen]

    return DataSplit(
        train=examples("train", data.train, per_label),
        validation=examples("val", data.val, None),
        test=examples("test", data.test, None),
    )
