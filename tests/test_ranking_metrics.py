"""precision@k, nDCG@k and the popularity baseline against hand-computed values."""

from __future__ import annotations

import math

import pytest

from recsys.metrics import evaluate_rankings, ndcg_at_k, popularity_ranking, precision_at_k


def test_precision_counts_relevant_items_in_the_top_k():
    assert precision_at_k(["a", "b", "c"], {"a": 1, "c": 2}, 3) == pytest.approx(2 / 3)
    assert precision_at_k(["a", "b", "c"], {"a": 1, "c": 2}, 2) == pytest.approx(1 / 2)
    # Fewer ranked items than k still divide by k.
    assert precision_at_k(["a"], {"a": 1}, 3) == pytest.approx(1 / 3)
    assert precision_at_k(["a", "b"], {"x": 3}, 2) == 0.0


def test_ndcg_with_graded_gains():
    relevance = {"a": 3.0, "b": 1.0}
    assert ndcg_at_k(["a", "b", "c"], relevance, 3) == pytest.approx(1.0)
    worst = (1.0 / math.log2(2) + 3.0 / math.log2(3)) / (3.0 / math.log2(2) + 1.0 / math.log2(3))
    assert ndcg_at_k(["b", "a"], relevance, 3) == pytest.approx(worst)
    assert ndcg_at_k(["c", "d"], relevance, 2) == 0.0
    assert ndcg_at_k(["a"], {}, 1) == 0.0


def test_popularity_orders_by_count_then_name():
    assert popularity_ranking({"b": 5, "a": 5, "c": 9, "d": 1}) == ["c", "a", "b", "d"]


def test_evaluate_skips_users_without_relevance():
    quality = evaluate_rankings(
        {"u1": ["a", "b"], "u2": ["b", "a"], "u3": ["a"]},
        {"u1": {"a": 1.0}, "u2": {"a": 1.0}, "u3": {}},
        k=1,
    )
    assert quality.users == 2
    assert quality.precision == pytest.approx(0.5)
    assert quality.ndcg == pytest.approx(0.5)


@pytest.mark.parametrize("bad_k", [0, -2, 1.5, True])
def test_bad_k_is_named(bad_k):
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(["a"], {"a": 1}, bad_k)
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(["a"], {"a": 1}, bad_k)


def test_bad_gains_and_missing_rankings_are_named():
    with pytest.raises(ValueError, match="gains"):
        ndcg_at_k(["a"], {"a": float("nan")}, 1)
    with pytest.raises(ValueError, match="u9"):
        evaluate_rankings({}, {"u9": {"a": 1.0}}, 3)
