"""The SQL-built matrix equals a slow pure-Python reference on a random log."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np
import pytest

from recsys.matrices import ConfidenceConfig, build_user_domain_matrix, domain_stats
from recsys.store import open_database
from tests.ranking_logs import T0, Event, insert_events


def random_log(seed: int, n: int = 600) -> list[Event]:
    rng = random.Random(seed)
    users = [f"user-{i}" for i in range(23)]
    domains = ["banking", "credit_cards", "travel", "kitchen", "utility", "work"]
    return [
        Event(
            rng.choice(users),
            rng.choice(domains),
            rng.choice(["positive", "positive", "negative", "corrected"]),
            T0 + timedelta(hours=rng.uniform(0, 24 * 30)),
        )
        for _ in range(n)
    ]


def reference_matrix(events: list[Event], config: ConfidenceConfig) -> tuple[list[str], list[str], np.ndarray]:
    """Slow on purpose: one Python loop over the events, no SQL."""
    window = [(i + 1, e) for i, e in enumerate(events)]  # seq is the insert order, starting at 1
    window = [
        e for seq, e in window
        if (config.min_seq is None or seq >= config.min_seq)
        and (config.max_seq is None or seq <= config.max_seq)
        and (config.as_of is None or e.event_time <= config.as_of)
    ]
    as_of = config.as_of or max(e.event_time for e in window)
    weights = {"positive": config.positive_weight, "negative": config.negative_weight, "corrected": config.corrected_weight}
    users = sorted({e.user_id for e in window})
    domains = sorted({e.domain for e in window})
    dense = np.zeros((len(users), len(domains)))
    for e in window:
        decay = 1.0
        if config.half_life_days is not None:
            age_days = max((as_of - e.event_time).total_seconds(), 0.0) / 86400.0
            decay = 0.5 ** (age_days / config.half_life_days)
        dense[users.index(e.user_id), domains.index(e.domain)] += weights[e.feedback] * decay
    return users, domains, dense


CONFIGS = [
    ConfidenceConfig(),
    ConfidenceConfig(positive_weight=0.5, negative_weight=2.0, corrected_weight=7.0, half_life_days=3.0),
    ConfidenceConfig(half_life_days=None),
    ConfidenceConfig(as_of=T0 + timedelta(days=20), half_life_days=5.0),
    ConfidenceConfig(min_seq=100, max_seq=450),
]


@pytest.fixture(scope="module")
def random_db(tmp_path_factory):
    db = open_database(tmp_path_factory.mktemp("matrices") / "log.duckdb")
    events = random_log(seed=7)
    insert_events(db, events)
    yield db, events
    db.close()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: repr(c)[:60])
def test_sql_matrix_equals_python_reference(random_db, config):
    db, events = random_db
    built = build_user_domain_matrix(db, config)
    users, domains, dense = reference_matrix(events, config)
    assert list(built.user_ids) == users
    assert list(built.domains) == domains
    assert built.matrix.dtype == np.float32
    np.testing.assert_allclose(built.matrix.toarray(), dense, rtol=1e-5, atol=1e-6)


def test_stats_equal_python_counts(random_db):
    db, events = random_db
    stats = domain_stats(db)
    for j, domain in enumerate(stats.domains):
        mine = [e for e in events if e.domain == domain]
        assert stats.event_count[j] == len(mine)
        assert stats.negative_count[j] == sum(e.feedback == "negative" for e in mine)
        assert stats.corrected_count[j] == sum(e.feedback == "corrected" for e in mine)
        assert stats.positive_count[j] == sum(e.feedback == "positive" for e in mine)
        assert stats.user_count[j] == len({e.user_id for e in mine})
    assert stats.total_events == len(events)


def test_id_maps_are_stable_and_sorted(random_db):
    db, _ = random_db
    first, second = build_user_domain_matrix(db), build_user_domain_matrix(db)
    assert first.user_ids == second.user_ids == tuple(sorted(first.user_ids))
    assert first.domain_index == {d: j for j, d in enumerate(sorted(first.domains))}
    assert (first.matrix != second.matrix).nnz == 0


def test_negative_feedback_weighs_more_than_volume(tmp_path):
    db = open_database(tmp_path / "w.duckdb")
    insert_events(db, [Event("a", "x", "positive")] * 1 + [Event("a", "y", "corrected")])
    built = build_user_domain_matrix(db, ConfidenceConfig(half_life_days=None))
    row = built.matrix.toarray()[0]
    assert row[built.domain_index["y"]] == 4.0 * row[built.domain_index["x"]]


def test_empty_log_gives_empty_matrix(tmp_path):
    db = open_database(tmp_path / "empty.duckdb")
    built = build_user_domain_matrix(db)
    assert built.matrix.shape == (0, 0) and built.user_ids == () and built.domains == ()
    assert domain_stats(db).total_events == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"negative_weight": -1.0}, "negative_weight"),
        ({"corrected_weight": float("nan")}, "corrected_weight"),
        ({"positive_weight": 0.0, "negative_weight": 0.0, "corrected_weight": 0.0}, "all 0"),
        ({"half_life_days": 0.0}, "half_life_days"),
        ({"as_of": datetime(2026, 1, 1)}, "as_of"),
        ({"min_seq": 10, "max_seq": 5}, "min_seq 10"),
        ({"min_seq": -1}, "min_seq"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ConfidenceConfig(**kwargs)
