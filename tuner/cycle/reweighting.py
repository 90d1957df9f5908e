"""Held-out rows reweighted for the wrong answers users did not correct.

The gate's held-out rows are the domain's labeled events: answers users accepted
(``positive``) and wrong answers they corrected. A wrong answer a user only rejected
(``negative``, no correction) teaches no label and is not a row. When users correct only a
share ``r`` of the wrong answers, the rows under-count the answers the serving model got
wrong by ``1/r``, and every model that agrees with it looks better than it is: the gate
favours the champion that served the traffic (seen in ``bench/days.py --correction-rate
0.5``: a candidate 1.8 points better on CLINC's test lost 1.8 points on the gate's rows).

Inverse propensity weighting removes that bias where corrections are missing at random
among wrong answers: each corrected row counts ``1/r`` times, ``r`` estimated from the
domain's log as corrected / (corrected + rejected), the weight capped at
``max_weight`` (``CycleConfig.max_correction_weight``) so a handful of corrections cannot
decide alone. When every wrong answer is corrected the weight is 1 and nothing changes.

Training is not reweighted: repeating each corrected row by the weight (tried, README
"Partial corrections") gave lower first nights on every domain measured; copies carry no
information about the queries that were left uncorrected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from tuner.data import Example


@dataclass(frozen=True)
class CorrectionWeights:
    """Which wrong answers were corrected, how many were only rejected, and the weight that gives."""

    corrected_ids: frozenset[str] = field(repr=False)
    rejected: int
    max_weight: float

    @property
    def corrected(self) -> int:
        return len(self.corrected_ids)

    @property
    def corrected_share(self) -> float:
        """The share of wrong answers users corrected (1.0 when none was only rejected)."""
        wrong = self.corrected + self.rejected
        return self.corrected / wrong if self.rejected and wrong else 1.0

    @property
    def weight(self) -> float:
        """What one corrected row counts for (1.0: no reweighting)."""
        share = self.corrected_share
        return min(self.max_weight, 1.0 / share) if share > 0 else self.max_weight

    def of(self, rows: Sequence[Example]) -> list[float] | None:
        """Each row's weight (None when every weight is 1)."""
        weight = self.weight
        if weight == 1.0:
            return None
        weights = [weight if e.event_id in self.corrected_ids else 1.0 for e in rows]
        return weights if any(w != 1.0 for w in weights) else None

    def to_json(self) -> dict:
        return {"corrected": self.corrected, "rejected": self.rejected,
                "corrected_share": self.corrected_share, "weight": self.weight}
