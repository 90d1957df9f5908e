"""The cycle's side of review: hold a passing candidate by its domain's policy, and the SQL it commits.

A held candidate's adapter row is ``awaiting_review``; its review row (with the evidence)
and the superseding of the domain's older waiting candidate commit in the cycle's own
closing transaction, so a crash leaves either all of it or none.

Chains: a held parent is not a promoted one, so a child trained in the same cycle (or
later, while the parent waits) warm-starts from the parent's champion, never from the
waiting candidate: a child must not inherit weights no person approved, and a rejected
parent would leave the child built on nothing that serves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from recsys.domains import get_domain
from recsys.store import Database
from tuner.review.evidence import build_evidence, disagreements
from tuner.review.policy import hold_for_review
from tuner.review.store import held_statements, supersede_statements

if TYPE_CHECKING:
    from tuner.cycle.running import DomainOutcome


def apply_review_policy(db: Database, outcome: "DomainOutcome") -> None:
    """Set ``outcome.review`` (a Hold or None) and ``outcome.evidence`` for a candidate that passed the gate."""
    if not outcome.gate.promote:
        return
    record = get_domain(db, outcome.domain)
    policy, threshold = (record.review_policy or "auto", record.review_threshold) if record else ("auto", 0.0)
    found = disagreements(outcome.plan.data.split.test, outcome.gate.candidate.predictions, outcome.gate.reference.predictions)
    outcome.review = hold_for_review(policy, threshold, found.change_rate)
    if outcome.review is not None:
        outcome.evidence = build_evidence(
            outcome.gate.to_json(), found, layers=outcome.plan.layers, groups=outcome.plan.groups,
            data_window=outcome.staged.data_window,
        )  # fmt: skip


def review_statements(outcome: "DomainOutcome", cycle_id: str) -> list[tuple[str, list]]:
    """Before the outcome's adapter row: a passing candidate supersedes the domain's waiting one;
    a held one gets its review row."""
    if not outcome.gate.promote:
        return []
    statements = supersede_statements(outcome.domain, outcome.staged.version, cycle_id)
    if outcome.review is not None:
        statements += held_statements(outcome.domain, outcome.staged.version, cycle_id, outcome.champion_version,
                                      outcome.review, outcome.evidence or {})
    return statements
