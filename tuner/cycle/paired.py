"""Candidate against reference row by row: on how many held-out rows each does better.

A fixed margin means different things on 200 held-out rows and on 4,000: on a small set
one point is two or three rows (noise), on a large one a gain of half a point can be
twenty rows and no accident. The gate therefore also asks the paired question: of
the rows where the two models differ, does the candidate win significantly more than
half? That is the exact one-sided sign test (McNemar's exact test for accuracy): under
"no difference" each differing row is a fair coin, so the p-value is the chance of at
least ``wins`` heads in ``wins + losses`` tosses. Rows both get right (or wrong) say
nothing about which is better and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from scipy.stats import binomtest

from tuner.data import Example
from tuner.evaluation import Metrics, token_f1


@dataclass(frozen=True)
class PairedComparison:
    """Rows where the candidate scores higher (``wins``) or lower (``losses``) than the reference."""

    wins: int
    losses: int
    # One-sided exact sign test of "the candidate is better"; 1.0 when no row differs.
    p_value: float

    def to_json(self) -> dict:
        return {"wins": self.wins, "losses": self.losses, "p_value": self.p_value}


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


def compare_rows(candidate: Sequence[float], reference: Sequence[float]) -> PairedComparison:
    """Wins, losses and the sign test's p-value over paired row scores (ties dropped)."""
    if len(candidate) != len(reference):
        raise ValueError(f"paired rows differ in number: {len(candidate)} vs {len(reference)}")
    wins = sum(c > r for c, r in zip(candidate, reference))
    losses = sum(c < r for c, r in zip(candidate, reference))
    return PairedComparison(wins, losses, sign_test(wins, losses))


def proves(gain: float, paired: PairedComparison | None, margin: float, significance: float) -> bool:
    """Better by ``margin``, or ahead with the sign test's p at most ``significance``."""
    return gain >= margin or (paired is not None and gain > 0 and paired.p_value <= significance)
