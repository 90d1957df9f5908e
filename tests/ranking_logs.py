"""Synthetic interaction logs whose right answer is known, written with plain SQL.

Ranking tests share these; rows go in with one executemany per log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from recsys.events.model import Feedback, Interaction
from recsys.probes import ProbeRecord
from recsys.store import Database

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Event:
    user_id: str
    domain: str
    feedback: str  # positive | negative | corrected
    event_time: datetime = T0


def insert_events(db: Database, events: list[Event], prefix: str = "ev") -> None:
    """One batched insert; event ids are prefix-index so several calls can share a file."""
    rows = [
        [f"{prefix}-{index:07d}", e.user_id, e.domain, f"query {index}", e.feedback,
         "gold" if e.feedback == "corrected" else "", e.event_time]
        for index, e in enumerate(events)
    ]
    with db.write_lock:
        cursor = db.cursor()
        cursor.execute("BEGIN TRANSACTION")
        cursor.executemany(
            "INSERT INTO interactions (event_id, user_id, domain, input_text, feedback, correction, event_time)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        cursor.execute("COMMIT")


def repeat(user: str, domain: str, feedback: str, n: int, start: datetime = T0, step_minutes: int = 1) -> list[Event]:
    return [Event(user, domain, feedback, start + timedelta(minutes=step_minutes * i)) for i in range(n)]


def segment_log(
    groups: dict[str, list[str]],
    users_per_group: int,
    events_per_domain: int = 12,
    failing: dict[str, float] | None = None,
) -> list[Event]:
    """Users in groups, each group using its own domains; ``failing`` gives a domain's error share.

    Errors are spread evenly (every k-th event corrected) so the log is deterministic.
    """
    failing = failing or {}
    events: list[Event] = []
    for group, domains in groups.items():
        for u in range(users_per_group):
            user = f"{group}-u{u:02d}"
            for domain in domains:
                rate = failing.get(domain, 0.0)
                n_errors = round(rate * events_per_domain)
                for i in range(events_per_domain):
                    feedback = "corrected" if i < n_errors else "positive"
                    events.append(Event(user, domain, feedback, T0 + timedelta(minutes=len(events))))
    return events


def to_interactions(events: list[Event], prefix: str = "ev") -> list[Interaction]:
    """The same log as Interaction objects, for the client and the ingestion path."""
    return [
        Interaction(
            event_id=f"{prefix}-{index:07d}",
            user_id=e.user_id,
            domain=e.domain,
            input_text=f"query {index}",
            model_output="answer",
            feedback=Feedback(e.feedback),
            event_time=e.event_time,
            correction="gold" if e.feedback == "corrected" else "",
        )
        for index, e in enumerate(events)
    ]


TOP_HEAVY = [0.1, 0.1, 0.2, 0.3, 0.8, 1.0]
BOTTOM_HEAVY = list(reversed(TOP_HEAVY))


def probe_run(domain: str, profile: list[float], probe_id: str, base_model: str = "tiny-llama") -> list[ProbeRecord]:
    """One probe run over len(profile) layers: attention follows ``profile``, mlp half of it."""
    return [
        ProbeRecord(domain, base_model, layer, group, value * (1.0 if group == "attention" else 0.5), 8, probe_id)
        for layer, value in enumerate(profile)
        for group in ("attention", "mlp")
    ]
