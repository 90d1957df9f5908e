"""Simulated traffic: queries drawn with replacement, each asked at most once, or intents at long-tail rates."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from recsys.datasets.clinc150 import Clinc150, LabeledText
from recsys.traffic import TrafficConfig, draw_by_intent, simulate_clinc_traffic


def _dataset() -> Clinc150:
    domains = {"banking": ["balance", "transfer"], "travel": ["book_hotel", "lost_luggage"]}
    train = [LabeledText(f"{intent} query {i}", intent, domain)
             for domain, intents in domains.items() for intent in intents for i in range(6)]  # fmt: skip
    return Clinc150(domains, train, [], [])


def _config(**overrides) -> TrafficConfig:
    return TrafficConfig(**{"n_users": 10, "n_events": 24, "n_segments": 2, "domains_per_segment": 1, "seed": 4,
                            **overrides})  # fmt: skip


def test_distinct_traffic_asks_every_query_once_when_it_asks_them_all():
    data = _dataset()
    events = simulate_clinc_traffic(data, _config(repeat_queries=False))
    asked = Counter(e.input_text for e in events)
    assert len(events) == len(data.train)
    assert set(asked) == {row.text for row in data.train}
    assert max(asked.values()) == 1


def test_distinct_traffic_still_follows_domain_preferences_until_a_domain_runs_out():
    data = _dataset()
    events = simulate_clinc_traffic(data, _config(n_events=12, repeat_queries=False, preference_strength=1.0,
                                                  n_segments=1))  # fmt: skip
    # One segment, one favourite domain, 12 of its queries: all from that domain, none twice.
    assert len({e.domain for e in events}) == 1
    assert len({e.input_text for e in events}) == 12


def test_repeating_traffic_draws_with_replacement():
    events = simulate_clinc_traffic(_dataset(), _config(n_events=200))
    assert max(Counter(e.input_text for e in events).values()) > 1


def test_distinct_traffic_refuses_more_events_than_queries():
    with pytest.raises(ValueError, match=r"n_events \(25\) exceeds the 24 queries of the 'train' split"):
        simulate_clinc_traffic(_dataset(), _config(n_events=25, repeat_queries=False))


def _long_tail_rows(per_intent: int) -> list[LabeledText]:
    return [LabeledText(f"{intent} query {i}", intent, "assistant") for intent in ("head", "tail") for i in range(per_intent)]


def test_long_tail_draws_follow_the_rates_without_repeating_a_row():
    rows = _long_tail_rows(400)
    drawn = draw_by_intent(rows, 300, {"head": 5.0, "tail": 1.0}, random.Random(0))
    assert len(drawn) == len({r.text for r in drawn}) == 300
    counts = Counter(r.intent for r in drawn)
    assert 220 <= counts["head"] <= 280  # 250 expected at 5:1
    assert draw_by_intent(rows, 300, {"head": 5.0, "tail": 1.0}, random.Random(0)) == drawn  # seeded


def test_an_intent_that_runs_out_drops_out_and_the_rest_fill_the_draw():
    rows = _long_tail_rows(10)
    drawn = draw_by_intent(rows, 20, {"head": 100.0, "tail": 1.0}, random.Random(1))
    assert Counter(r.intent for r in drawn) == {"head": 10, "tail": 10}


@pytest.mark.parametrize("count, rates, message", [
    (5, {"head": 1.0}, "no rate for intents ['tail']"),
    (5, {"head": 1.0, "tail": 0.0}, "rates must be positive"),
    (21, {"head": 1.0, "tail": 1.0}, "count must be between 0 and the 20 rows, got 21"),
])
def test_bad_long_tail_draws_are_refused_naming_what(count, rates, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        draw_by_intent(_long_tail_rows(10), count, rates, random.Random(0))
