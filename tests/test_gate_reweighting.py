"""The gate under partial corrections: corrected rows count for the wrong answers left uncorrected.

The weight is 1/(share of wrong answers corrected), capped; the weighted sign test is exact
(checked against every sign pattern); a real cycle over a log with rejected answers
weighs its held-out rows so and says so, and a log where every wrong answer was
corrected is judged exactly as before.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from recsys.events.log import append_interactions
from recsys.events.model import Feedback
from recsys.events.query import fetch_interactions
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tests.test_cycle_run import tiny_config, workspace  # noqa: F401 (fixture)
from tuner.audit import AuditResult
from tuner.cycle.config import CycleConfig
from tuner.cycle.gate import decide
from tuner.cycle.paired import compare_rows, sign_test, weighted_mean, weighted_sign_test
from tuner.cycle.reweighting import CorrectionWeights
from tuner.cycle.running import run_cycle
from tuner.data import Example, example_from, split_examples
from tuner.evaluation import Metrics


def _brute_force(signs: list[tuple[float, int]]) -> float:
    observed = sum(w * s for w, s in signs)
    patterns = list(itertools.product((1, -1), repeat=len(signs)))
    return sum(sum(w * p for (w, _), p in zip(signs, pattern)) >= observed - 1e-9 for pattern in patterns) / len(patterns)


def test_the_weighted_sign_test_is_exact_and_the_plain_one_with_equal_weights():
    rng = random.Random(7)
    for _ in range(40):
        weights = [rng.choice((1.0, 2.5)) for _ in range(rng.randint(1, 11))]
        signs = [(w, rng.choice((1, -1))) for w in weights]
        assert weighted_sign_test(signs) == pytest.approx(_brute_force(signs))
    assert weighted_sign_test([(3.0, 1)] * 7 + [(3.0, -1)] * 2) == pytest.approx(sign_test(7, 2))
    assert weighted_sign_test([]) == 1.0
    with pytest.raises(ValueError, match="at most two weights"):
        weighted_sign_test([(1.0, 1), (2.0, 1), (3.0, -1)])


def test_the_weight_is_one_over_the_share_corrected_and_capped():
    def ids(n: int, *named: str) -> frozenset[str]:
        return frozenset(named) | {f"other{i}" for i in range(n - len(named))}

    assert CorrectionWeights(ids(30), 30, 10.0).weight == pytest.approx(2.0)
    assert CorrectionWeights(ids(1), 99, 10.0).weight == 10.0
    assert CorrectionWeights(frozenset(), 5, 10.0).weight == 10.0
    every = CorrectionWeights(ids(40, "e1"), 0, 10.0)
    assert (every.corrected, every.corrected_share, every.weight) == (40, 1.0, 1.0)
    rows = [Example(f"e{i}", "text", "a") for i in range(4)]
    assert every.of(rows) is None  # nothing to reweigh: the gate runs as before
    assert CorrectionWeights(ids(30, "e1"), 30, 1.0).of(rows) is None  # max weight 1 turns it off
    assert CorrectionWeights(ids(30, "e1", "e3"), 30, 10.0).of(rows) == [1.0, 2.0, 1.0, 2.0]
    assert CorrectionWeights(ids(30, "elsewhere"), 30, 10.0).of(rows) is None


def test_a_max_correction_weight_under_one_is_refused_by_name():
    with pytest.raises(ValueError, match="max_correction_weight"):
        CycleConfig(max_correction_weight=0.5)


def test_weights_turn_a_kept_candidate_that_fixes_the_uncorrected_mistakes_into_a_promotion():
    # The champion served these rows: right on the 4 accepted ones the candidate misses, wrong on
    # the 6 corrected ones the candidate gets; half the wrong answers were only rejected.
    candidate = [0.0] * 4 + [1.0] * 6 + [1.0] * 30
    champion = [1.0] * 4 + [0.0] * 6 + [1.0] * 30
    weights = [1.0] * 4 + [2.0] * 6 + [1.0] * 30
    audit = AuditResult(attribute="region", metric="accuracy", per_group={"north": 0.9}, gap=0.0, bound=0.25, passed=True)
    plain = compare_rows(candidate, champion)
    weighted = compare_rows(candidate, champion, weights)
    assert (plain.wins, plain.losses) == (weighted.wins, weighted.losses) == (6, 4)
    assert (weighted.weighted_wins, weighted.weighted_losses) == (12.0, 4.0)
    assert weighted.p_value < 0.2 < plain.p_value
    metrics = Metrics(task="classification", n=40, overall={"accuracy": 0.0}, predictions=[])
    values = (weighted_mean(candidate, weights), weighted_mean(champion, weights))
    kept, _, _ = decide("accuracy", replace(metrics, overall={"accuracy": 0.9}), replace(metrics, overall={"accuracy": 0.85}),
                        "champion", [audit], 0.1, plain, 0.2, True)
    promoted, gain, reason = decide("accuracy", metrics, metrics, "champion", [audit], 0.1, weighted, 0.2, True, values)
    assert not kept and promoted
    assert gain == pytest.approx((12.0 - 4.0) / 46.0) and reason.startswith("weighted accuracy")


def _rejecting(events, share_rejected: float, seed: int):
    """The same events with about ``share_rejected`` of the corrections turned into bare rejections."""
    rng = random.Random(seed)
    out = []
    for e in events:
        if e.feedback is Feedback.CORRECTED and rng.random() < share_rejected:
            e = replace(e, feedback=Feedback.NEGATIVE, correction="")
        out.append(e)
    return out


def test_a_real_cycle_weighs_corrected_rows_by_the_rejections_in_the_log(workspace):  # noqa: F811
    append_interactions(workspace.db, _rejecting(mixed_log(STRUGGLING, FINE), 0.5, seed=1))
    config = tiny_config(workspace.base)
    (outcome,) = run_cycle(workspace, config).outcomes
    billing = fetch_interactions(workspace.db, domain="billing")
    corrected = {e.event_id for e in billing if e.feedback is Feedback.CORRECTED}
    rejected = sum(e.feedback is Feedback.NEGATIVE for e in billing)
    assert rejected > 0 and corrected
    weighting = outcome.gate.weighting
    assert (weighting.corrected, weighting.rejected) == (len(corrected), rejected)
    assert weighting.weight == pytest.approx(min(10.0, (len(corrected) + rejected) / len(corrected)))
    # The gain is the weighted one: the won minus the lost weight over the held-out rows' weight.
    test = split_examples([x for x in map(example_from, billing) if x], validation=config.validation,
                          test=config.test).test
    total = sum(weighting.weight if e.event_id in corrected else 1.0 for e in test)
    paired = outcome.gate.paired
    assert paired.weighted_wins is not None
    assert outcome.gate.gain == pytest.approx((paired.weighted_wins - paired.weighted_losses) / total)
    stored = workspace.registry.get("billing", outcome.staged.version).metrics["gate"]
    assert stored["weighting"]["rejected"] == rejected and stored["paired"]["weighted_wins"] == paired.weighted_wins


def test_a_log_with_every_wrong_answer_corrected_is_judged_unweighted(workspace):  # noqa: F811
    append_interactions(workspace.db, domain_events(STRUGGLING))
    (outcome,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes
    assert outcome.gate.weighting is None and outcome.gate.paired.weighted_wins is None
    stored = workspace.registry.get("billing", outcome.staged.version).metrics["gate"]
    assert stored["weighting"] is None and "weighted_wins" not in stored["paired"]


def test_the_anchor_comparison_weighs_the_rows_as_the_gate_did(workspace):  # noqa: F811
    from tests.test_gate_anchor import NOISY, _verdict
    from tuner.cycle.anchor import compare_with_anchor

    append_interactions(workspace.db, domain_events(NOISY))
    (first,) = run_cycle(workspace, tiny_config(workspace.base)).outcomes
    anchor = workspace.registry.load(workspace.base, "billing", first.staged.version)
    test = first.plan.data.split.test
    oracle = Metrics("classification", len(test), {"accuracy": 1.0}, predictions=[e.target for e in test])
    missed = sorted(e.event_id for e, answer in zip(test, first.gate.candidate.predictions) if answer != e.target)
    assert len(missed) >= 2  # the noisy rows
    corrected = frozenset(missed[: len(missed) // 2])
    weighting = CorrectionWeights(corrected, 3 * len(corrected), 10.0)  # weight 4
    verdict = replace(_verdict(candidate=oracle), weighting=weighting)
    judged = compare_with_anchor(workspace.base, test, verdict, anchor, first.staged.version, tiny_config(workspace.base))
    total = len(test) + 3 * len(corrected)
    won = len(missed) + 3 * len(corrected)
    assert judged.anchor.paired.weighted_wins == won and judged.anchor.paired.weighted_losses == 0
    assert judged.anchor.gain == pytest.approx(won / total)
    assert "weighted accuracy" in judged.reason
