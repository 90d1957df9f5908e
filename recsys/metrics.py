"""Ranking quality as plain functions: precision@k, nDCG@k and a popularity baseline.

A ranking is a list of item ids, best first; relevance maps an item to its gain
(held-out event counts, or 1.0 for "relevant"). Items missing from it gain 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")


def _check_gains(relevance: Mapping[str, float]) -> None:
    bad = {item: gain for item, gain in relevance.items() if not math.isfinite(gain) or gain < 0}
    if bad:
        raise ValueError(f"relevance gains must be finite and >= 0, got {bad}")


def precision_at_k(ranking: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """Share of the top k that is relevant (gain > 0); the denominator is k even when fewer are ranked."""
    _check_k(k)
    _check_gains(relevance)
    return sum(1 for item in ranking[:k] if relevance.get(item, 0.0) > 0) / k


def ndcg_at_k(ranking: Sequence[str], relevance: Mapping[str, float], k: int) -> float:
    """Discounted gain of the top k over the best possible; 0.0 when nothing is relevant."""
    _check_k(k)
    _check_gains(relevance)
    dcg = sum(relevance.get(item, 0.0) / math.log2(rank + 2) for rank, item in enumerate(ranking[:k]))
    ideal = sorted((gain for gain in relevance.values() if gain > 0), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def popularity_ranking(counts: Mapping[str, float]) -> list[str]:
    """Items by count, most first (ties by id): the baseline every personal ranking must beat."""
    return sorted(counts, key=lambda item: (-counts[item], item))


@dataclass(frozen=True)
class RankingQuality:
    precision: float
    ndcg: float
    users: int


def evaluate_rankings(
    rankings: Mapping[str, Sequence[str]], relevance: Mapping[str, Mapping[str, float]], k: int
) -> RankingQuality:
    """Mean precision@k and nDCG@k over users with at least one relevant item.

    Users with nothing held out say nothing about quality, so they are skipped
    rather than counted as zeros; a user with relevance but no ranking is an error.
    """
    _check_k(k)
    users = [user for user, gains in relevance.items() if any(g > 0 for g in gains.values())]
    missing = [user for user in users if user not in rankings]
    if missing:
        raise ValueError(f"rankings lack {len(missing)} users that have relevance, e.g. {missing[:3]}")
    if not users:
        return RankingQuality(precision=0.0, ndcg=0.0, users=0)
    precision = sum(precision_at_k(rankings[u], relevance[u], k) for u in users) / len(users)
    ndcg = sum(ndcg_at_k(rankings[u], relevance[u], k) for u in users) / len(users)
    return RankingQuality(precision=precision, ndcg=ndcg, users=len(users))
