"""Plateau escalation: when the cheap target stops paying, widen it (pure decision logic, no torch).

A domain whose candidates fail the gate by the margin ``after`` cycles running while its
error rate stays at or above ``error_rate`` is stuck on its current target: the next
cycle gets ``budget_factor`` times its layer budget (more layers), one level per such
streak, up to ``max_level``. A promotion resets the streak but keeps the level it was
reached at (that budget is what worked); a domain that keeps improving never leaves
level 0, so it keeps the cheap target. The state is derived from the cycles' own
summaries (what each cycle decided for the domain), so nothing else has to be stored.

Widening is an experiment, and the budget learns from how it ends. A domain that fails
``after`` more cycles at the widest level was not held back by its target: it goes back
to the level that last promoted (0 if none did), and the next round of widening waits
twice as many failed cycles there (``retreats`` so far: ``after * 2**retreats``), so a
domain on its true plateau spends ever fewer nights, not all of them, at the costly
targets (``after`` 2, two levels: 4 of every 6 nights widened before, then 4 of 8, 4 of
12, ...). A promotion ends the plateau and clears the back-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class CycleVerdict:
    """What one finished cycle decided for a domain."""

    promoted: bool
    gain: float
    margin: float
    # How often the domain still erred after that cycle (its new events' error rate, or the
    # kept model's held-out error when worse: ``tuner.cycle.escalation.error_rate``).
    error_rate: float


@dataclass(frozen=True)
class EscalationPolicy:
    after: int = 2
    error_rate: float = 0.05
    budget_factor: float = 2.0
    max_level: int = 2

    def __post_init__(self) -> None:
        for name in ("after", "max_level"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (1 if name == "after" else 0):
                raise ValueError(f"escalation_{name} must be an integer >= {1 if name == 'after' else 0}, got {value!r}")
        if isinstance(self.error_rate, bool) or not isinstance(self.error_rate, (int, float)) or not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"escalation_error_rate must be a number in [0, 1], got {self.error_rate!r}")
        if (isinstance(self.budget_factor, bool) or not isinstance(self.budget_factor, (int, float))
                or not math.isfinite(self.budget_factor) or self.budget_factor < 1.0):
            raise ValueError(f"escalation_budget_factor must be a number >= 1, got {self.budget_factor!r}")


@dataclass(frozen=True)
class Escalation:
    level: int
    # Failed cycles running (since the last promotion or change of level).
    streak: int
    reason: str
    # Rounds of widening that did not pay since the last promotion (each doubles the wait).
    retreats: int = 0

    def budget(self, base_budget: float, policy: EscalationPolicy) -> float:
        """The layer budget at this level (never above 1: all layers)."""
        return min(1.0, base_budget * policy.budget_factor**self.level)


def plateaued(verdict: CycleVerdict, policy: EscalationPolicy) -> bool:
    """Failed by the margin while the domain still errs often."""
    return not verdict.promoted and verdict.gain < verdict.margin and verdict.error_rate >= policy.error_rate


def escalation(history: Iterable[CycleVerdict], policy: EscalationPolicy) -> Escalation:
    """The level the next cycle should use, from the domain's verdicts, oldest first."""
    level, streak, worked, retreats = 0, 0, 0, 0
    reason = "no plateau: the cheap target"
    for verdict in history:
        if verdict.promoted:
            streak, worked, retreats = 0, level, 0
            reason = f"promoted at level {level}: keeps that target"
        elif plateaued(verdict, policy):
            streak += 1
            # Back at the level that worked after a round that did not pay, the next round waits longer.
            needed = policy.after * 2**retreats if level == worked else policy.after
            if streak < needed:
                step = ("widening" if level < policy.max_level else
                        f"going back to level {worked}" if level > worked else None)
                reason = f"{streak} of {needed} failed cycles before {step} (level {level})" if step else \
                    f"plateau at the widest level {level}"
            elif level < policy.max_level:
                level, streak = level + 1, 0
                reason = (f"{needed} cycles running failed the gate by the margin while erring at "
                          f">= {policy.error_rate:.0%}: widened to level {level}")
            elif level > worked:
                level, streak, retreats = worked, 0, retreats + 1
                reason = (f"{needed} cycles running failed at the widest level too: widening did not pay; back to "
                          f"level {level}, the last that promoted; the next widening after "
                          f"{policy.after * 2**retreats} failed cycles")
            else:
                reason = f"plateau at the widest level {level}"
        else:
            streak = 0
    return Escalation(level, streak, reason, retreats)
