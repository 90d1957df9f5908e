"""Synthetic logs for cycle tests, whose right answer is known.

Each domain has its own labels from the toy intent task (one keyword decides the label,
so a tiny model learns it in seconds) and its own error rate: where the served model is
often wrong, users send corrections, and ranking should send the cycle there. Events of
one ``plan`` can be made unlearnable (their text has no keyword), so a candidate is much
better for one group than the other and the bias audit has a gap to catch.
"""

from __future__ import annotations

import random
from itertools import zip_longest
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from recsys.events.model import Feedback, Interaction
from tests.fixtures.toy_data import FILLER, toy_text

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class DomainSpec:
    domain: str
    labels: tuple[str, ...]
    events: int
    error_rate: float
    # Users who send this domain's events.
    users: tuple[str, ...]
    # Events whose plan attribute is this value have no keyword in their text (unlearnable).
    noisy_plan: str | None = None


STRUGGLING = DomainSpec("billing", ("pay_bill", "transfer_money"), 160, 0.7, tuple(f"b{i}" for i in range(10)))
FINE = DomainSpec("cards", ("check_balance", "lost_card"), 160, 0.05, tuple(f"c{i}" for i in range(10)))


def domain_events(spec: DomainSpec, *, seed: int = 0, prefix: str = "ev", start: int = 0) -> list[Interaction]:
    rng = random.Random(f"{seed}-{spec.domain}-{prefix}")
    events = []
    for i in range(spec.events):
        label = spec.labels[i % len(spec.labels)]
        plan = ("free", "pro")[(i // 2) % 2]
        text = " ".join(rng.sample(FILLER, 5)) if plan == spec.noisy_plan else toy_text(label, rng)
        wrong = rng.random() < spec.error_rate
        other = next(x for x in spec.labels if x != label)
        events.append(
            Interaction(
                event_id=f"{prefix}-{spec.domain}-{seed}-{i}",
                user_id=spec.users[i % len(spec.users)],
                domain=spec.domain,
                input_text=text,
                model_output=other if wrong else label,
                feedback=Feedback.CORRECTED if wrong else Feedback.POSITIVE,
                correction=label if wrong else "",
                event_time=T0 + timedelta(minutes=start + i),
                attributes={"region": ("north", "south")[i % 2], "plan": plan},
            )
        )
    return events


def mixed_log(*specs: DomainSpec, seed: int = 0, prefix: str = "ev") -> list[Interaction]:
    """The domains' events interleaved, as traffic arrives."""
    streams = [domain_events(spec, seed=seed, prefix=prefix) for spec in specs]
    return [event for group in zip_longest(*streams) for event in group if event is not None]
