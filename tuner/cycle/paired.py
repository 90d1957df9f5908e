"""Candidate against reference row by row: on how many held-out rows each does better.

A fixed margin means different things on 200 held-out rows and on 4,000: on a small set
one point is two or three rows (noise), on a large one a gain of half a point can be
twenty rows and no accident. The gate therefore also asks the paired question: of
the rows where the two models differ, does the candidate win significantly more than
half? That is the exact one-sided sign test (McNemar's exact test for accuracy): under
"no difference" each differing row is a fair coin, so the p-value is the chance of at
least ``wins`` heads in ``wins + losses`` tosses. Rows both get right (or wrong) say
nothing about which is better and are left out.

With row weights (``tuner.cycle.reweighting``: a corrected row stands for the wrong answers
users left uncorrected) the statistic is the weighted sum of the signs, and its p-value is
still exact: under "no difference" every differing row is still a fair coin, so the sum is
a convolution of binomials, one per weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.stats import binom, binomtest

from tuner.data import Example
from tuner.evaluation import Metrics, token_f1


@dataclass(frozen=True)
class PairedComparison:
    """Rows where the candidate scores higher (``wins``) or lower (``losses``) than the reference."""

    wins: int
    losses: int
    # One-sided exact sign test of "the candidate is better"; 1.0 when no row differs.
    p_value: float
    # The weighted sums of the won and lost rows, when rows were weighted (else None).
    weighted_wins: float | None = None
    weighted_losses: float | None = None

    def to_json(self) -> dict:
        out = {"wins": self.wins, "losses": self.losses, "p_value": self.p_value}
        if self.weighted_wins is not None:
            out |= {"weighted_wins": self.weighted_wins, "weighted_losses": self.weighted_losses}
        return out


def row_scores(metrics: Metrics, examples: Sequence[Example]) -> list[float]:
    """Each row's score: 1/0 for a right/wrong label, token F1 for generated text."""
    if len(metrics.predictions) != len(examples):
        raise ValueError(f"{len(metrics.predictions)} predictions for {len(examples)} examples")
    if metrics.task == "classification":
        return [float(p == e.target) for p, e in zip(metrics.predictions, examples)]
    return [token_f1(e.target, p) for p, e in zip(metrics.predictions, examples)]


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test that ``wins`` outnumber ``losses`` (1.0 when nothing differs)."""
    return float(binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue) if wins + losses else 1.0


def weighted_sign_test(signs: Sequence[tuple[float, int]]) -> float:
    """One-sided exact test that the weighted sum of ``signs`` ((weight, +1 or -1) per
    differing row) is this large by chance, each sign a fair coin; at most two weights."""
    if not signs:
        return 1.0
    levels = sorted({w for w, _ in signs})
    if len(levels) > 2:
        raise ValueError(f"the exact weighted sign test takes at most two weights, got {len(levels)}")
    observed = sum(w * s for w, s in signs)
    n = {w: sum(1 for v, _ in signs if v == w) for w in levels}
    low, high = levels[0], levels[-1]
    if low == high:
        wins = sum(s > 0 for _, s in signs)
        return sign_test(wins, len(signs) - wins)
    # Sum = low * (2a - n_low) + high * (2b - n_high) for a, b heads: for each b, P(a >= needed).
    b = np.arange(n[high] + 1)
    needed = np.ceil((observed - high * (2 * b - n[high]) + low * n[low]) / (2 * low) - 1e-9)
    tail = binom.sf(needed - 1, n[low], 0.5)
    return float(min(1.0, np.sum(binom.pmf(b, n[high], 0.5) * tail)))


def compare_rows(
    candidate: Sequence[float], reference: Sequence[float], weights: Sequence[float] | None = None
) -> PairedComparison:
    """Wins, losses and the sign test's p-value over paired row scores (ties dropped);
    with ``weights`` (not all 1) the weighted sign test decides."""
    if len(candidate) != len(reference):
        raise ValueError(f"paired rows differ in number: {len(candidate)} vs {len(reference)}")
    wins = sum(c > r for c, r in zip(candidate, reference))
    losses = sum(c < r for c, r in zip(candidate, reference))
    if weights is None or all(w == 1.0 for w in weights):
        return PairedComparison(wins, losses, sign_test(wins, losses))
    if len(weights) != len(candidate):
        raise ValueError(f"{len(weights)} weights for {len(candidate)} paired rows")
    signs = [(w, 1 if c > r else -1) for c, r, w in zip(candidate, reference, weights) if c != r]
    return PairedComparison(wins, losses, weighted_sign_test(signs),
                            weighted_wins=sum(w for w, s in signs if s > 0),
                            weighted_losses=sum(w for w, s in signs if s < 0))


def weighted_mean(scores: Sequence[float], weights: Sequence[float]) -> float:
    """The weighted share (each row's score counted ``weight`` times)."""
    total = sum(weights)
    return sum(s * w for s, w in zip(scores, weights, strict=True)) / total if total else 0.0


def compare_metric(
    candidate: Metrics, reference: Metrics, rows: Sequence[Example], metric: str, weights: Sequence[float] | None = None
) -> tuple[float, float, PairedComparison]:
    """Candidate's and reference's ``metric`` on ``rows`` (weighted with ``weights``) and their paired comparison."""
    scores = row_scores(candidate, rows), row_scores(reference, rows)
    paired = compare_rows(*scores, weights)
    if weights:
        return weighted_mean(scores[0], weights), weighted_mean(scores[1], weights), paired
    return float(candidate[metric]), float(reference[metric]), paired


def proves(gain: float, paired: PairedComparison | None, margin: float, significance: float) -> bool:
    """Better by ``margin``, or ahead with the sign test's p at most ``significance``."""
    return gain >= margin or (paired is not None and gain > 0 and paired.p_value <= significance)
