"""Review policies inside a real cycle (tiny BERT, real DuckDB), and the pure parts of review.

required_above holds a candidate only when it changes more of the held-out answers than
the threshold; a child trained while its parent waits does not start from the waiting
candidate; a cycle start expires overdue reviews; an old database gains the policy columns.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pytest

from recsys.domains import DomainRecord, get_domain, upsert_domain
from recsys.events.log import append_interactions
from recsys.store import open_database
from recsys.store.migrations import MIGRATIONS, i16_review
from tests.cycle_logs import FINE, STRUGGLING, DomainSpec, domain_events, mixed_log
from tests.test_cycle_run import registry_state, tiny_config, workspace  # noqa: F401 (fixture)
from tuner.cycle.running import run_cycle
from tuner.data import Example
from tuner.review.decisions import EXPIRY
from tuner.review.evidence import disagreements
from tuner.review.policy import hold_for_review
from tuner.review.store import get_review, list_reviews


def test_required_above_holds_only_a_candidate_that_changes_more_answers_than_the_threshold(workspace):
    upsert_domain(workspace.db, DomainRecord("billing", review_policy="required_above", review_threshold=0.99))
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    # Both cycles start their heads from the names, not imprinted: this test needs the gate to
    # pass the second candidate, and on 69 held-out rows of a tiny random model the imprinted
    # champion left it nothing to gain (-2.9 points: 2 rows better, 4 worse).
    names = tiny_config(workspace.base)
    first = run_cycle(workspace, replace(names, train=replace(names.train, imprint_new_labels=False)))
    (outcome,) = first.outcomes
    assert outcome.promoted and outcome.review is None  # it changes less than 99% of the answers
    assert registry_state(workspace) == [("billing", "v0001", "champion")] and list_reviews(workspace.db) == []

    upsert_domain(workspace.db, DomainRecord("billing", review_policy="required_above", review_threshold=0.0))
    append_interactions(workspace.db, domain_events(STRUGGLING, seed=3, prefix="later"))
    names_start = tiny_config(workspace.base, margin=0.0)
    second = run_cycle(workspace, replace(names_start, train=replace(names_start.train, imprint_new_labels=False)))
    (outcome,) = second.outcomes
    assert outcome.gate.promote, outcome.gate.reason  # review only holds candidates the gate passed
    review = get_review(workspace.db, "billing", "v0002")
    assert outcome.review.policy == "required_above" and review.change_rate == outcome.review.change_rate > 0.0
    assert "above the domain's review threshold 0.0%" in outcome.review.reason
    assert review.champion_version == "v0001" and review.evidence["gate"]["reference"]["kind"] == "champion"
    # The champion's own answers stand beside the candidate's in the samples.
    assert all(s["champion"] != s["candidate"] for s in review.evidence["samples"])
    assert registry_state(workspace) == [("billing", "v0001", "champion"), ("billing", "v0002", "awaiting_review")]
    assert second.summary["awaiting_review"] == ["billing"] and second.summary["promoted"] == []


def test_a_child_does_not_warm_start_from_a_parent_candidate_that_awaits_review(workspace):
    child = DomainSpec("disputes", STRUGGLING.labels, 200, 0.9, tuple(f"d{i}" for i in range(10)))
    upsert_domain(workspace.db, DomainRecord("billing", review_policy="required"))
    upsert_domain(workspace.db, DomainRecord("disputes", parent="billing"))
    append_interactions(workspace.db, mixed_log(child, STRUGGLING, FINE))
    result = run_cycle(workspace, tiny_config(workspace.base, max_domains=2, layer_budget=1.0))

    parent, kid = result.outcomes
    assert parent.domain == "billing" and parent.gate.promote and parent.review is not None
    assert kid.warm_start is None  # not billing/v0001, which no person approved yet
    assert registry_state(workspace) == [("billing", "v0001", "awaiting_review"), ("disputes", "v0001", "champion")]
    assert workspace.registry.get("disputes", "v0001").parent_domain is None


def test_a_cycle_start_expires_overdue_reviews(workspace):
    upsert_domain(workspace.db, DomainRecord("billing", review_policy="required"))
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    run_cycle(workspace, tiny_config(workspace.base))
    workspace.db.cursor().execute("UPDATE reviews SET created_at = created_at - INTERVAL 3 HOUR")
    events = []
    run_cycle(workspace, tiny_config(workspace.base, review_max_age_hours=2.5), emit=events.append)  # nothing new to train

    assert [(e.stage, e.domain, e.adapter_version) for e in events if e.stage == "expired"] == [("expired", "billing", "v0001")]
    review = get_review(workspace.db, "billing", "v0001")
    assert (review.status, review.decided_by, review.reason) == ("rejected", EXPIRY, "expired: unreviewed for more than 2.5 hours")
    assert registry_state(workspace) == [("billing", "v0001", "rejected")]


def test_changed_answers_are_counted_and_sampled_in_order():
    test = [Example(f"e{i}", f"text {i}", "pay_bill" if i % 2 else "transfer_money", attributes={"region": "north"}) for i in range(5)]
    candidate = ["pay_bill"] * 5
    champion = ["pay_bill", "transfer_money", "pay_bill ", "transfer_money", "transfer_money"]
    found = disagreements(test, candidate, champion, limit=2)
    assert (found.n_test, found.n_changed, found.change_rate) == (5, 3, 0.6)
    assert [s["input"] for s in found.samples] == ["text 1", "text 3"]
    assert found.samples[0] == {"input": "text 1", "candidate": "pay_bill", "champion": "transfer_money",
                                "gold": "pay_bill", "attributes": {"region": "north"}}
    with pytest.raises(ValueError, match="answers must cover the test rows: 5 rows, 4 candidate"):
        disagreements(test, candidate[:4], champion)


def test_the_policy_decides_which_passing_candidates_wait():
    assert hold_for_review("auto", 0.0, 0.9) is None
    assert hold_for_review("required", 0.0, 0.0).policy == "required"
    assert hold_for_review("required_above", 0.1, 0.1) is None
    assert hold_for_review("required_above", 0.1, 0.11).change_rate == 0.11
    with pytest.raises(ValueError, match="review_policy must be one of"):
        hold_for_review("never", 0.0, 0.5)


def test_an_existing_database_gains_review_columns_with_auto_for_its_domains(tmp_path):
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    for migration in MIGRATIONS[: MIGRATIONS.index(i16_review)]:  # the database as it was before i16_review
        migration(con)
        con.execute("INSERT INTO schema_migrations (name) VALUES (?)", [migration.__name__])
    con.execute("INSERT INTO domains (name) VALUES ('legal')")
    con.close()
    db = open_database(path)
    try:
        legal = get_domain(db, "legal")
        assert (legal.review_policy, legal.review_threshold) == ("auto", 0.0)
        assert list_reviews(db) == []
    finally:
        db.close()
