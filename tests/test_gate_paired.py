"""The gate's paired test: wins and losses on the rows where candidate and champion differ.

A gain under the margin promotes only when the sign test says the rows show it (and
the audits pass); the margin alone still promotes; significance 0 is the margin alone.
A real two-cycle run checks that the summary's counts are the rows' own.
"""

from __future__ import annotations

import pytest
from scipy.stats import binomtest

from recsys.events.log import append_interactions
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tests.test_cycle_run import tiny_config, workspace  # noqa: F401 (fixture)
from tuner.audit import AuditResult
from tuner.cycle.gate import decide
from tuner.cycle.paired import PairedComparison, compare_rows, row_scores
from tuner.cycle.running import run_cycle
from tuner.data import Example
from tuner.evaluation import Metrics


def metrics(accuracy: float, predictions: list[str] | None = None, task: str = "classification") -> Metrics:
    return Metrics(task=task, n=len(predictions or []), overall={"accuracy": accuracy}, predictions=predictions or [])


def audit(passed: bool) -> AuditResult:
    return AuditResult(attribute="region", metric="accuracy", per_group={"eu": 0.9, "us": 0.5 if not passed else 0.9},
                       gap=0.4 if not passed else 0.0, bound=0.25, passed=passed)  # fmt: skip


def test_wins_and_losses_count_only_rows_that_differ_and_the_p_value_is_the_exact_sign_test():
    candidate = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0]
    reference = [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]  # 9 wins, 1 loss, 2 ties
    paired = compare_rows(candidate, reference)
    assert (paired.wins, paired.losses) == (9, 1)
    assert paired.p_value == pytest.approx(11 / 1024)  # P(at least 9 heads in 10 fair tosses)
    assert compare_rows(reference, candidate).p_value == pytest.approx(binomtest(1, 10, 0.5, alternative="greater").pvalue)


def test_no_differing_row_is_no_evidence():
    assert compare_rows([1, 0, 1], [1, 0, 1]) == PairedComparison(0, 0, 1.0)
    with pytest.raises(ValueError, match="paired rows differ in number: 2 vs 3"):
        compare_rows([1, 0], [1, 0, 1])


def test_row_scores_are_right_or_wrong_for_labels_and_token_f1_for_text():
    examples = [Example("a", "hi", "greet"), Example("b", "bye", "leave")]
    assert row_scores(metrics(0.5, ["greet", "greet"]), examples) == [1.0, 0.0]
    texts = [Example("a", "q", "the cat sat"), Example("b", "q", "a dog")]
    scores = row_scores(metrics(0.0, ["the cat", "a dog"], task="generation"), texts)
    assert scores == [pytest.approx(0.8), 1.0]
    with pytest.raises(ValueError, match="1 predictions for 2 examples"):
        row_scores(metrics(0.5, ["greet"]), examples)


def test_a_significant_gain_under_the_margin_promotes():
    paired = PairedComparison(wins=40, losses=18, p_value=binomtest(40, 58, 0.5, alternative="greater").pvalue)
    promote, gain, reason = decide("accuracy", metrics(0.906), metrics(0.897), "champion", [audit(True)], 0.01, paired, 0.05)
    assert promote and gain == pytest.approx(0.009)
    assert "better on 40 rows, worse on 18" in reason and "significantly better under the margin" in reason


def test_without_significance_the_margin_alone_decides():
    paired = PairedComparison(wins=40, losses=18, p_value=0.003)
    promote, _, reason = decide("accuracy", metrics(0.906), metrics(0.897), "champion", [audit(True)], 0.01, paired, 0.0)
    assert not promote and "not better by the margin" in reason and "nor significantly" not in reason


def test_a_gain_the_rows_do_not_show_is_kept_out():
    paired = PairedComparison(wins=5, losses=3, p_value=binomtest(5, 8, 0.5, alternative="greater").pvalue)
    promote, _, reason = decide("accuracy", metrics(0.9025), metrics(0.9), "champion", [audit(True)], 0.01, paired, 0.05)
    assert not promote and "not better by the margin nor significantly" in reason


def test_significance_never_promotes_a_loss_or_a_failed_audit():
    # Token F1: more rows better yet a lower mean (a few rows much worse).
    paired = PairedComparison(wins=30, losses=10, p_value=0.001)
    promote, _, _ = decide("accuracy", metrics(0.89), metrics(0.9), "champion", [audit(True)], 0.01, paired, 0.05)
    assert not promote
    promote, _, reason = decide("accuracy", metrics(0.906), metrics(0.9), "champion", [audit(False)], 0.01, paired, 0.05)
    assert not promote and "bias audit failed on 'region'" in reason


def test_the_margin_still_promotes_a_gain_too_few_rows_can_prove():
    paired = PairedComparison(wins=3, losses=0, p_value=0.125)
    promote, _, reason = decide("accuracy", metrics(0.95), metrics(0.9), "champion", [audit(True)], 0.01, paired, 0.05)
    assert promote and "better by the margin" in reason


def test_a_continuation_takes_the_sign_test_at_its_own_level():
    # 8 wins, 3 losses: p = 0.113, not significant at 0.05, within 0.2; the gain is under the margin.
    paired = PairedComparison(wins=8, losses=3, p_value=binomtest(8, 11, 0.5, alternative="greater").pvalue)
    args = ("accuracy", metrics(0.905), metrics(0.9), "champion", [audit(True)], 0.01, paired)
    promote, _, reason = decide(*args, 0.2, True)
    assert promote and "continue_significance 0.2" in reason and "ahead of the champion it continues" in reason
    promote, _, reason = decide(*args, 0.05, False)
    assert not promote and "significance 0.05" in reason and "continue_significance" not in reason
    # The looser level still needs the rows: a closer split (p = 0.377) is kept out.
    close = PairedComparison(wins=6, losses=4, p_value=binomtest(6, 10, 0.5, alternative="greater").pvalue)
    promote, _, reason = decide("accuracy", metrics(0.902), metrics(0.9), "champion", [audit(True)], 0.01, close, 0.2, True)
    assert not promote and "not better by the margin nor significantly" in reason


def test_a_continuation_never_passes_a_failed_audit_or_a_loss():
    paired = PairedComparison(wins=8, losses=3, p_value=0.113)
    promote, _, reason = decide("accuracy", metrics(0.905), metrics(0.9), "champion", [audit(False)], 0.01, paired, 0.2, True)
    assert not promote and "bias audit failed" in reason
    promote, _, _ = decide("accuracy", metrics(0.89), metrics(0.9), "champion", [audit(True)], 0.01, paired, 0.2, True)
    assert not promote


def test_a_real_gate_reports_the_rows_it_compared(workspace):  # noqa: F811
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    (first,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes
    # The first candidate is compared with the base model: no champion to continue.
    assert not first.gate.continues_champion and first.gate.significance == 0.05
    append_interactions(workspace.db, domain_events(STRUGGLING, seed=1, prefix="later"))
    (outcome,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes
    # The second warm-starts from the first (champion or kept line) and takes the continuation's level.
    assert outcome.warm_start == f"billing/{first.staged.version}"
    assert outcome.gate.continues_champion and outcome.gate.significance == 0.2

    gate = outcome.gate
    n = gate.candidate.n
    assert gate.reference_kind == "champion" and n == gate.reference.n > 0
    # For accuracy the paired counts are the gain itself: wins - losses rows of n.
    assert (gate.paired.wins - gate.paired.losses) / n == pytest.approx(gate.gain)
    expected = binomtest(gate.paired.wins, gate.paired.wins + gate.paired.losses, 0.5, alternative="greater").pvalue \
        if gate.paired.wins + gate.paired.losses else 1.0
    assert gate.paired.p_value == pytest.approx(expected)
    stored = workspace.registry.get("billing", outcome.staged.version).metrics["gate"]
    assert stored["paired"] == {"wins": gate.paired.wins, "losses": gate.paired.losses, "p_value": gate.paired.p_value}
    assert stored["continues_champion"] is True and stored["significance"] == 0.2
