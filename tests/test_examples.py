"""The example traffic the project writes itself: deterministic, valid, shaped like real feedback."""

from __future__ import annotations

import collections

import pytest

from recsys.datasets.examples import EXAMPLE_DOMAINS, example_interactions, intents
from recsys.events.columns import EventColumns
from recsys.events.validate import validate_table


def test_same_seed_same_events_other_seed_other_events():
    assert example_interactions(50, seed=3) == example_interactions(50, seed=3)
    assert example_interactions(50, seed=3) != example_interactions(50, seed=4)


def test_every_event_is_valid_and_ids_are_unique():
    events = example_interactions()
    assert len(events) == 360
    assert validate_table(EventColumns.from_interactions(events).to_arrow()) == []
    assert len({e.event_id for e in events}) == 360


def test_domains_chain_and_feedback_mix():
    events = example_interactions()
    assert {d.name: d.parent for d in EXAMPLE_DOMAINS} == {"customer_support": None, "legal": None, "contracts": "legal"}
    assert {e.domain for e in events} == {"customer_support", "legal", "contracts"}
    feedback = collections.Counter(e.feedback.value for e in events)
    assert set(feedback) == {"positive", "negative", "corrected"}
    for e in events:
        if e.feedback.value == "corrected":
            assert e.correction in intents(e.domain) and e.correction != e.model_output
        assert set(e.attributes) == {"region", "plan", "channel"}


def test_contracts_is_harder_than_support_and_apac_harder_than_eu():
    events = example_interactions(3000, seed=1)

    def corrected_share(keep) -> float:
        chosen = [e for e in events if keep(e)]
        return sum(e.feedback.value == "corrected" for e in chosen) / len(chosen)

    assert corrected_share(lambda e: e.domain == "contracts") > corrected_share(lambda e: e.domain == "customer_support")
    assert corrected_share(lambda e: e.attributes["region"] == "apac") > corrected_share(lambda e: e.attributes["region"] == "eu")


@pytest.mark.parametrize("kwargs, message", [({"n": 0}, "n must be a positive integer, got 0"), ({"users": -2}, "users must be")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        example_interactions(**kwargs)


def test_unknown_domain_names_the_choices():
    with pytest.raises(KeyError, match="'banking' is not an example domain"):
        intents("banking")


def test_large_traffic_stays_in_the_past():
    from datetime import datetime, timezone

    events = example_interactions(100_000, seed=2)
    assert max(e.event_time for e in events) < datetime.now(timezone.utc)
    assert events[-1].event_time > events[0].event_time
