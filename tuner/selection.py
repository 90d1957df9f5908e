"""Which validation pass is best, and when to stop: the rule, apart from the training loop.

Best is the monitored metric in its explicit direction (accuracy and token F1 up, loss
down), with validation loss only breaking ties: continued training can make the head
more confident, so loss rises on the examples it still gets wrong while accuracy holds
or improves; choosing by loss then keeps step 0 (the champion) forever.

Patience watches training's own progress: the evaluations since the best trained pass,
not since the best pass overall. The start (step 0) can still be the pass kept, but it
does not run the clock: a start already fitted to the data (an imprinted head, a
parent's) scores high, the first steps at the full rate dip below it, and counted from
the start every pass of the recovery was "no better", so training stopped mid-dip and
kept the untrained start (the tests' toy task: step 0 at 0.80 kept; counted from
training's best, it ran on to 0.98). A recovery slower than patience still stops; the
cycle runs its cold starts through (``CycleConfig.cold_start_all_epochs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tuner.config import GREATER_IS_BETTER


@dataclass
class Selection:
    """Tracks the best evaluation so far (kept) and the best trained one (for patience).

    An evaluation at ``step`` 0 is the start's: it can be the best, never the best trained.
    """

    monitor: str
    patience: int = 0
    best_step: int | None = None
    best_metric: float | None = None
    best_loss: float = math.inf
    evals: int = 0
    progress_step: int | None = None
    since_progress: int = 0
    _key: tuple[float, float] = field(default=(math.inf, math.inf), repr=False)
    _progress_key: tuple[float, float] = field(default=(math.inf, math.inf), repr=False)

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
        if step > 0:
            if key < self._progress_key:
                self._progress_key, self.progress_step, self.since_progress = key, step, 0
            else:
                self.since_progress += 1
        if key < self._key:
            self._key, self.best_step, self.best_metric, self.best_loss = key, step, metric, loss
            return True
        return False

    @property
    def exhausted(self) -> bool:
        """Patience ran out: ``patience`` evaluations in a row without a better trained one
        (never when 0, nor before a trained evaluation)."""
        return bool(self.patience) and self.progress_step is not None and self.since_progress >= self.patience
