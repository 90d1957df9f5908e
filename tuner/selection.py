"""Which validation pass is best, and when to stop: the rule, apart from the training loop.

Best is the monitored metric in its explicit direction (accuracy and token F1 up, loss
down), with validation loss only breaking ties: continued training can make the head
more confident, so loss rises on the examples it still gets wrong while accuracy holds
or improves; choosing by loss then keeps step 0 (the champion) forever.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tuner.config import GREATER_IS_BETTER


@dataclass
class Selection:
    """Tracks the best evaluation so far and the evaluations since it (for patience)."""

    monitor: str
    patience: int = 0
    best_step: int | None = None
    best_metric: float | None = None
    best_loss: float = math.inf
    evals: int = 0
    since_best: int = 0
    _key: tuple[float, float] = field(default=(math.inf, math.inf), repr=False)

    def __post_init__(self) -> None:
        if self.monitor not in GREATER_IS_BETTER:
            raise ValueError(f"monitor must be one of {sorted(GREATER_IS_BETTER)}, got {self.monitor!r}")
        if isinstance(self.patience, bool) or not isinstance(self.patience, int) or self.patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {self.patience!r}")

    def offer(self, step: int, metric: float, loss: float) -> bool:
        """Record one evaluation; True when it is the new best (keep its weights)."""
        sign = -1.0 if GREATER_IS_BETTER[self.monitor] else 1.0
        key = (sign * metric, loss)
        self.evals += 1
        if key < self._key:
            self._key, self.best_step, self.best_metric, self.best_loss, self.since_best = key, step, metric, loss, 0
            return True
        self.since_best += 1
        return False

    @property
    def exhausted(self) -> bool:
        """Patience ran out: ``patience`` evaluations in a row without a better one (never when 0)."""
        return bool(self.patience) and self.since_best >= self.patience
