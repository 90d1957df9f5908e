"""Simulated traffic: queries drawn with replacement, or each asked at most once."""

from __future__ import annotations

from collections import Counter

import pytest

from recsys.datasets.clinc150 import Clinc150, LabeledText
from recsys.traffic import TrafficConfig, simulate_clinc_traffic


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
