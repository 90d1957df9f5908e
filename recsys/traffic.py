"""Simulated product traffic built from CLINC150.

Users belong to segments with domain preferences; they send real CLINC150
queries, a model (or a noisy oracle with a per-domain error rate) answers, and
the gold intent comes back as a correction when the answer was wrong. Demos,
tests and benchmarks use it so they share one notion of "realistic traffic".
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping, Sequence

from recsys.datasets.clinc150 import Clinc150, LabeledText
from recsys.events.model import Feedback, Interaction

# answer(texts, domain) -> one predicted label per text
AnswerFn = Callable[[Sequence[str], str], Sequence[str]]

REGIONS = ("eu", "us", "apac")
PLANS = ("free", "pro")


@dataclass
class TrafficConfig:
    n_users: int = 200
    n_events: int = 10_000
    n_segments: int = 5
    # Each segment concentrates on this many domains.
    domains_per_segment: int = 2
    # Share of a user's events that go to the segment's favourite domains.
    preference_strength: float = 0.85
    # Oracle error rate per domain (used when no answer function is given).
    error_rates: dict[str, float] = field(default_factory=dict)
    default_error_rate: float = 0.1
    # Share of wrong answers that come back as a correction (the rest: plain negative).
    correction_rate: float = 0.8
    # Which split the queries come from.
    split: str = "train"
    # False: each query of the split is asked at most once (a dataset replayed as
    # traffic); True: users repeat queries (drawn with replacement).
    repeat_queries: bool = True
    seed: int = 0
    start: datetime = datetime(2026, 11, 1, tzinfo=timezone.utc)
    span: timedelta = timedelta(days=14)
    event_prefix: str = "sim"

    def __post_init__(self) -> None:
        for name in ("n_users", "n_events", "n_segments", "domains_per_segment"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("preference_strength", "default_error_rate", "correction_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for domain, rate in self.error_rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"error_rates[{domain!r}] must be in [0, 1], got {rate}")
        if self.split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {self.split!r}")


@dataclass(frozen=True)
class UserProfile:
    user_id: str
    segment: int
    favourite_domains: tuple[str, ...]
    region: str
    plan: str


def make_users(domains: Sequence[str], config: TrafficConfig) -> list[UserProfile]:
    """Users in segments; each segment shares its favourite domains."""
    rng = random.Random(config.seed)
    ordered = sorted(domains)
    segments = [
        tuple(rng.sample(ordered, min(config.domains_per_segment, len(ordered)))) for _ in range(config.n_segments)
    ]
    users = []
    for index in range(config.n_users):
        segment = index % config.n_segments
        users.append(
            UserProfile(
                user_id=f"user-{index:05d}",
                segment=segment,
                favourite_domains=segments[segment],
                region=rng.choice(REGIONS),
                plan=rng.choice(PLANS),
            )
        )
    return users


def oracle_answer(dataset: Clinc150, config: TrafficConfig, rng: random.Random) -> Callable[[LabeledText], str]:
    """A stand-in model that errs at the configured per-domain rate."""

    def answer(row: LabeledText) -> str:
        rate = config.error_rates.get(row.domain, config.default_error_rate)
        if rng.random() >= rate:
            return row.intent
        return rng.choice([intent for intent in dataset.domains[row.domain] if intent != row.intent])

    return answer


def draw_by_intent(rows: Sequence[LabeledText], count: int, rates: Mapping[str, float], rng: random.Random) -> list[LabeledText]:
    """``count`` distinct rows whose intents arrive at the relative ``rates`` (long-tail traffic).

    Real users do not ask every intent equally: a few are asked all day, many rarely.
    Each draw picks an intent by its rate among those with rows left, then one of its
    rows not drawn yet; an intent whose rows run out drops out of later draws.
    """
    missing = sorted({row.intent for row in rows} - set(rates))
    if missing:
        raise ValueError(f"rates has no rate for intents {missing}")
    bad = {intent: rate for intent, rate in rates.items() if not rate > 0}
    if bad:
        raise ValueError(f"rates must be positive, got {bad}")
    if not 0 <= count <= len(rows):
        raise ValueError(f"count must be between 0 and the {len(rows)} rows, got {count}")
    left: dict[str, list[LabeledText]] = {}
    for row in rows:
        left.setdefault(row.intent, []).append(row)
    for queue in left.values():
        rng.shuffle(queue)
    drawn = []
    for _ in range(count):
        intents = [intent for intent in sorted(left) if left[intent]]
        intent = rng.choices(intents, weights=[rates[i] for i in intents])[0]
        drawn.append(left[intent].pop())
    return drawn


def _event_id(prefix: str, seed: int, index: int) -> str:
    digest = hashlib.sha1(f"{prefix}:{seed}:{index}".encode()).hexdigest()[:16]
    return f"{prefix}-{digest}"


def plan_requests(dataset: Clinc150, config: TrafficConfig, users: Sequence[UserProfile]) -> list[tuple[UserProfile, LabeledText]]:
    """Who asks what, in order: users pick a favourite domain most of the time."""
    rng = random.Random(config.seed + 1)
    rows = getattr(dataset, config.split)
    by_domain: dict[str, list[LabeledText]] = {}
    for row in rows:
        by_domain.setdefault(row.domain, []).append(row)
    all_domains = sorted(by_domain)
    if not config.repeat_queries:
        available = sum(len(v) for v in by_domain.values())
        if config.n_events > available:
            raise ValueError(f"n_events ({config.n_events}) exceeds the {available} queries of the {config.split!r} "
                             "split, and repeat_queries is False")
        for queries in by_domain.values():
            rng.shuffle(queries)
    requests = []
    for _ in range(config.n_events):
        user = rng.choice(users)
        if rng.random() < config.preference_strength:
            domain = rng.choice(user.favourite_domains)
        else:
            domain = rng.choice(all_domains)
        if config.repeat_queries:
            requests.append((user, rng.choice(by_domain[domain])))
            continue
        if not by_domain.get(domain):  # this domain's queries are all asked: any domain with some left
            domain = rng.choice([d for d in all_domains if by_domain[d]])
        requests.append((user, by_domain[domain].pop()))
    return requests


def simulate_clinc_traffic(
    dataset: Clinc150,
    config: TrafficConfig | None = None,
    answer: AnswerFn | None = None,
    users: Sequence[UserProfile] | None = None,
    variant_id: str = "",
) -> list[Interaction]:
    """Interactions as a backend would log them, in event-time order."""
    config = config or TrafficConfig()
    users = list(users) if users is not None else make_users(dataset.domains, config)
    requests = plan_requests(dataset, config, users)
    rng = random.Random(config.seed + 2)
    if answer is None:
        oracle = oracle_answer(dataset, config, rng)
        outputs = [oracle(row) for _, row in requests]
    else:
        outputs = [""] * len(requests)
        by_domain: dict[str, list[int]] = {}
        for index, (_, row) in enumerate(requests):
            by_domain.setdefault(row.domain, []).append(index)
        for domain, indices in by_domain.items():
            predicted = answer([requests[i][1].text for i in indices], domain)
            for i, label in zip(indices, predicted, strict=True):
                outputs[i] = label
    step = config.span / max(config.n_events, 1)
    interactions = []
    for index, ((user, row), output) in enumerate(zip(requests, outputs)):
        if output == row.intent:
            feedback, correction = Feedback.POSITIVE, ""
        elif rng.random() < config.correction_rate:
            feedback, correction = Feedback.CORRECTED, row.intent
        else:
            feedback, correction = Feedback.NEGATIVE, ""
        interactions.append(
            Interaction(
                event_id=_event_id(config.event_prefix, config.seed, index),
                user_id=user.user_id,
                domain=row.domain,
                input_text=row.text,
                model_output=output,
                feedback=feedback,
                correction=correction,
                variant_id=variant_id,
                event_time=config.start + step * index,
                attributes={"region": user.region, "plan": user.plan, "segment": str(user.segment)},
            )
        )
    return interactions
