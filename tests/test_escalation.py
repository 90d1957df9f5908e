"""Plateau escalation: the pure rule, its settings, and the state derived from finished cycles."""

from __future__ import annotations

import pytest

from recsys.cycles import finish_cycle, start_cycle
from recsys.escalation import CycleVerdict, Escalation, EscalationPolicy, escalation
from recsys.store import open_database
from tuner.cycle.config import CycleConfig
from tuner.cycle.escalation import domain_escalation, domain_verdicts, error_rate

POLICY = EscalationPolicy(after=2, error_rate=0.1, budget_factor=2.0, max_level=2)
FAIL = CycleVerdict(promoted=False, gain=0.0, margin=0.01, error_rate=0.3)
WIN = CycleVerdict(promoted=True, gain=0.05, margin=0.01, error_rate=0.3)


def test_an_improving_domain_keeps_the_cheap_target():
    assert escalation([WIN, WIN, WIN], POLICY).level == 0
    assert escalation([], POLICY) == Escalation(0, 0, "no plateau: the cheap target")


def test_n_failures_running_while_erring_widen_one_level_at_a_time_up_to_the_cap():
    assert escalation([WIN, FAIL], POLICY).level == 0
    widened = escalation([WIN, FAIL, FAIL], POLICY)
    assert (widened.level, widened.streak) == (1, 0) and "widened to level 1" in widened.reason
    capped = escalation([FAIL] * 4, POLICY)
    assert capped.level == 2 and capped.budget(0.3, POLICY) == 1.0 and widened.budget(0.3, POLICY) == pytest.approx(0.6)
    waiting = escalation([FAIL] * 5, POLICY)
    assert (waiting.level, waiting.streak) == (2, 1) and waiting.reason == "1 of 2 failed cycles before going back to level 0 (level 2)"


def test_widening_that_does_not_pay_goes_back_and_waits_twice_as_long_each_time():
    back = escalation([FAIL] * 6, POLICY)  # two at each level: 0, 1, 2, then back
    assert (back.level, back.streak, back.retreats) == (0, 0, 1)
    assert "widening did not pay; back to level 0" in back.reason and "after 4 failed cycles" in back.reason
    assert escalation([FAIL] * 9, POLICY).reason == "3 of 4 failed cycles before widening (level 0)"
    assert escalation([FAIL] * 10, POLICY).level == 1  # the second round: four at the base, two at each level
    again = escalation([FAIL] * 14, POLICY)
    assert (again.level, again.retreats) == (0, 2) and "after 8 failed cycles" in again.reason
    # Nights at a widened level out of 30 on a true plateau: 4 of 6, then 4 of 8, then 4 of 12.
    levels = [escalation([FAIL] * n, POLICY).level for n in range(30)]
    assert sum(level > 0 for level in levels[:6]) == 4 and sum(level > 0 for level in levels[6:14]) == 4
    assert sum(level > 0 for level in levels[14:26]) == 4


def test_a_promotion_clears_the_back_off_and_a_retreat_returns_to_the_level_that_worked():
    assert escalation([FAIL] * 6 + [WIN], POLICY) == Escalation(0, 0, "promoted at level 0: keeps that target", 0)
    assert escalation([FAIL] * 6 + [WIN, FAIL, FAIL], POLICY).level == 1  # the usual wait again
    # Promoted at level 1: that is the target it goes back to, not the cheap one.
    back = escalation([FAIL, FAIL, WIN, FAIL, FAIL, FAIL, FAIL], POLICY)
    assert (back.level, back.retreats) == (1, 1) and "back to level 1" in back.reason
    # Promoted at the widest level: it stays there.
    top = escalation([FAIL] * 4 + [WIN] + [FAIL] * 5, POLICY)
    assert top.level == 2 and top.reason == "plateau at the widest level 2"
    never = EscalationPolicy(after=2, error_rate=0.1, budget_factor=2.0, max_level=0)
    assert escalation([FAIL] * 5, never) == Escalation(0, 5, "plateau at the widest level 0", 0)


def test_a_promotion_breaks_the_streak_and_keeps_the_level_that_worked():
    assert escalation([FAIL, WIN, FAIL], POLICY).level == 0
    kept = escalation([FAIL, FAIL, WIN], POLICY)
    assert kept.level == 1 and "keeps that target" in kept.reason


def test_failing_with_a_low_error_rate_or_within_the_margin_is_no_plateau():
    fine = CycleVerdict(promoted=False, gain=0.0, margin=0.01, error_rate=0.02)
    assert escalation([fine] * 5, POLICY).level == 0
    audited = CycleVerdict(promoted=False, gain=0.03, margin=0.01, error_rate=0.5)  # beat the margin, failed the audit
    assert escalation([audited] * 5, POLICY).level == 0
    assert escalation([FAIL, fine, FAIL], POLICY).level == 0  # not running


@pytest.mark.parametrize(
    ("field", "value"),
    [("escalation_after", 0), ("escalation_error_rate", 1.5), ("escalation_budget_factor", 0.5),
     ("escalation_budget_factor", float("nan")), ("escalation_max_level", -1), ("escalation_after", True)],
)
def test_bad_escalation_settings_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"{field} must be"):
        CycleConfig(**{field: value})


def summary(domain: str, decision: str, gain: float, error_rate: float, margin: float = 0.01) -> dict:
    return {"config": {"margin": margin}, "ranked": [{"domain": domain, "error_rate": error_rate}],
            "domains": [{"domain": domain, "gate": {"decision": decision, "gain": gain}}]}


def test_the_level_is_derived_from_the_finished_cycles_in_duckdb(tmp_path):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        for decision, gain in [("promote", 0.2), ("keep", 0.0), ("keep", -0.01)]:
            record = start_cycle(db, {})
            finish_cycle(db, record.cycle_id, summary("banking", decision, gain, 0.25))
        dry = start_cycle(db, {})  # a dry run (planned) decided nothing: it does not count
        finish_cycle(db, dry.cycle_id, summary("banking", "keep", 0.0, 0.25), status="planned")
        verdicts = domain_verdicts(db, "banking")
        assert [v.promoted for v in verdicts] == [True, False, False]
        assert verdicts[1] == CycleVerdict(False, 0.0, 0.01, 0.25)
        assert domain_escalation(db, "banking", POLICY).level == 1
        assert domain_escalation(db, "travel", POLICY).level == 0
    finally:
        db.close()


def test_a_stuck_domain_counts_its_held_out_error_when_its_traffic_looks_fine(tmp_path):
    """Users repeating trained queries make live traffic look fine (3% wrong) while the
    kept model errs on 6% of held-out queries: that plateau must count as one."""
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        for decision, gain, held_out in [("promote", 0.2, 0.77), ("keep", 0.0, 0.94), ("keep", 0.005, 0.94)]:
            record = start_cycle(db, {})
            run = summary("banking", decision, gain, 0.03)
            run["domains"][0]["gate"].update(metric="accuracy", candidate={"accuracy": held_out + gain},
                                             reference={"accuracy": held_out})
            finish_cycle(db, record.cycle_id, run)
        verdicts = domain_verdicts(db, "banking")
        # Promoted: the candidate's held-out error; kept: the champion's (the reference).
        assert [round(v.error_rate, 4) for v in verdicts] == [0.03, 0.06, 0.06]
        assert domain_escalation(db, "banking", EscalationPolicy(after=2, error_rate=0.05)).level == 1
        # Traffic alone (no held-out metric in the summary) would not have widened it.
        assert error_rate(0.03, {"decision": "keep", "gain": 0.0}) == 0.03
    finally:
        db.close()
