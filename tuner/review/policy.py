"""Whether a candidate that passed the gate waits for a person, by its domain's review policy.

The risk measure of ``required_above`` is the share of held-out answers the candidate
changes against the model serving now (the champion, else the base model): a candidate
that changes few answers behaves like what users already get; one that changes many
needs a look even when its accuracy is higher.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.domains import check_review_policy


@dataclass(frozen=True)
class Hold:
    """Why a passing candidate waits for review instead of being promoted."""

    policy: str
    threshold: float
    change_rate: float
    reason: str


def hold_for_review(policy: str, threshold: float, change_rate: float) -> Hold | None:
    """A Hold when ``policy`` asks for a person, else None (the gate's decision stands)."""
    check_review_policy(policy, threshold)
    if policy == "required":
        return Hold(policy, threshold, change_rate, "the domain's review policy requires a reviewer")
    if policy == "required_above" and change_rate > threshold:
        return Hold(policy, threshold, change_rate,
                    f"it changes {change_rate:.1%} of held-out answers, above the domain's review threshold {threshold:.1%}")
    return None
