"""Domain ranking on synthetic logs whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.domains import UnknownDomainError
from recsys.matrices import ConfidenceConfig
from recsys.ranking import (
    DomainRanker,
    EmptyLogError,
    NonFiniteFactorsError,
    NotFittedError,
    RankerConfig,
)
from recsys.store import open_database
from tests.ranking_logs import insert_events, repeat, segment_log

METHODS = ["als", "bpr"]


@pytest.fixture(scope="module")
def struggling_db(tmp_path_factory):
    """Two groups; credit_cards (group a) and auto (group b) both fail half the time.

    A newcomer uses banking and travel like group a but never credit_cards.
    """
    db = open_database(tmp_path_factory.mktemp("rank") / "log.duckdb")
    events = segment_log(
        {"a": ["banking", "travel", "credit_cards"], "b": ["kitchen", "work", "auto"]},
        users_per_group=12,
        failing={"credit_cards": 0.5, "auto": 0.5},
    )
    events += repeat("newcomer", "banking", "positive", 10) + repeat("newcomer", "travel", "positive", 10)
    insert_events(db, events)
    yield db
    db.close()


@pytest.mark.parametrize("method", METHODS)
def test_failing_domain_ranks_first_with_fewer_events(tmp_path, method):
    db = open_database(tmp_path / "fail.duckdb")
    # Everyone uses all three domains; utility has half the volume but fails 60% of the time.
    events = segment_log({"g": ["banking", "travel"]}, users_per_group=15, events_per_domain=12)
    events += segment_log({"g": ["utility"]}, users_per_group=15, events_per_domain=6, failing={"utility": 0.6})
    insert_events(db, events)
    ranking = DomainRanker(RankerConfig(method=method)).fit(db).rank_domains(top_k=3)
    assert [r.domain for r in ranking][0] == "utility"
    top = ranking[0]
    assert top.event_count == 15 * 6 and top.corrected_count == round(0.6 * 6) * 15
    assert top.error_rate == pytest.approx(top.corrected_count / top.event_count)
    assert top.score > 2 * ranking[1].score


@pytest.mark.parametrize("method", METHODS)
def test_similar_user_gets_the_groups_struggling_domain_first(struggling_db, method):
    ranker = DomainRanker(RankerConfig(method=method)).fit(struggling_db)
    answer = ranker.recommend("newcomer", top_k=6)
    assert not answer.cold_start
    order = [r.domain for r in answer.domains]
    # Never used by the newcomer, but its look-alikes struggle there; auto fails as often
    # but belongs to the other group, so it must rank below.
    assert order[0] == "credit_cards"
    assert order.index("credit_cards") < order.index("auto")
    by_affinity = [r.domain for r in ranker.recommend("newcomer", top_k=6, objective="affinity").domains]
    assert by_affinity.index("credit_cards") < min(by_affinity.index(d) for d in ("kitchen", "work", "auto"))


def test_unknown_user_gets_the_cold_start_answer(struggling_db):
    ranker = DomainRanker().fit(struggling_db)
    answer = ranker.recommend("never-seen", top_k=2)
    assert answer.cold_start
    # Equally popular (12 users each), the two struggling domains come first.
    assert {r.domain for r in answer.domains} == {"credit_cards", "auto"}
    assert answer.domains[0].affinity == pytest.approx(12 / 25)
    assert not ranker.recommend("a-u00", top_k=2).cold_start


def test_global_ranking_and_evidence(struggling_db):
    ranker = DomainRanker().fit(struggling_db)
    ranking = ranker.rank_domains(top_k=10)
    assert {r.domain for r in ranking[:2]} == {"credit_cards", "auto"}
    assert len(ranking) == 6  # top_k beyond the domain count returns them all
    assert ranker.events_used == 2 * 12 * 3 * 12 + 20
    assert [r.score for r in ranking] == sorted((r.score for r in ranking), reverse=True)
    banking = ranker.domain_score("banking")
    assert banking.event_count == 12 * 12 + 10 and banking.user_count == 13 and banking.error_rate == 0.0
    assert 0.0 < banking.need < ranker.domain_score("auto").need


def test_fit_is_reproducible_for_a_fixed_seed(struggling_db):
    first = DomainRanker(RankerConfig(random_state=3)).fit(struggling_db)
    second = DomainRanker(RankerConfig(random_state=3)).fit(struggling_db)
    assert first.rank_domains(6) == second.rank_domains(6)
    np.testing.assert_allclose(first.domain_similarity(), second.domain_similarity())


def test_domain_similarity_groups_co_used_domains(struggling_db):
    ranker = DomainRanker().fit(struggling_db)
    similarity = ranker.domain_similarity()
    index = {d: j for j, d in enumerate(ranker.domains)}
    assert similarity[index["banking"], index["travel"]] > similarity[index["banking"], index["kitchen"]]
    np.testing.assert_allclose(np.diag(similarity), 1.0, rtol=1e-6)


def test_empty_log_is_a_clear_error(tmp_path):
    db = open_database(tmp_path / "empty.duckdb")
    with pytest.raises(EmptyLogError, match="no events"):
        DomainRanker().fit(db)


def test_failed_fit_keeps_the_previous_one(struggling_db, tmp_path):
    ranker = DomainRanker().fit(struggling_db)
    before = ranker.rank_domains(6)
    with pytest.raises(EmptyLogError):
        ranker.fit(open_database(tmp_path / "empty.duckdb"))
    assert ranker.rank_domains(6) == before


@pytest.mark.parametrize(
    "config",
    [RankerConfig(method="bpr", learning_rate=1e30), RankerConfig(method="als", alpha=1e38)],
    ids=["bpr-huge-learning-rate", "als-huge-alpha"],
)
def test_nan_factors_from_implicit_are_caught(struggling_db, config):
    with pytest.raises(NonFiniteFactorsError, match=config.method):
        DomainRanker(config).fit(struggling_db)


def test_overflowing_confidence_is_refused(struggling_db):
    config = RankerConfig(confidence=ConfidenceConfig(positive_weight=1e38))
    with pytest.raises(ValueError, match="overflows float32"):
        DomainRanker(config).fit(struggling_db)


def test_bad_queries_name_the_value_and_change_nothing(struggling_db):
    ranker = DomainRanker().fit(struggling_db)
    before = ranker.rank_domains(6)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="top_k"):
            ranker.rank_domains(bad)
    with pytest.raises(ValueError, match="top_k"):
        ranker.recommend("a-u00", top_k=0)
    with pytest.raises(ValueError, match="objective"):
        ranker.recommend("a-u00", objective="clicks")
    with pytest.raises(UnknownDomainError, match="'legal'"):
        ranker.domain_score("legal")
    assert ranker.rank_domains(6) == before


def test_unfitted_ranker_says_so():
    with pytest.raises(NotFittedError, match="fit"):
        DomainRanker().rank_domains()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "svd"}, "method"),
        ({"factors": 0}, "factors"),
        ({"iterations": -3}, "iterations"),
        ({"regularization": float("inf")}, "regularization"),
        ({"alpha": 0.0}, "alpha"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"random_state": -1}, "random_state"),
        ({"need_prior_events": -1.0}, "need_prior_events"),
        ({"num_threads": -2}, "num_threads"),
        ({"confidence": {"negative_weight": 2}}, "confidence"),
    ],
)
def test_bad_ranker_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        RankerConfig(**kwargs)
