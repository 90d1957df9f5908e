"""Training examples, the deterministic split, metrics per group and the bias audit."""

from __future__ import annotations

import pytest

from recsys.events.model import Feedback
from tests.fixtures.toy_data import toy_interactions
from tuner.audit import bias_audit
from tuner.data import Example, examples_from_interactions, split_examples
from tuner.evaluation import Metrics, classification_metrics, evaluate, generation_metrics, token_f1

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def test_examples_come_from_corrections_and_positive_feedback():
    events = toy_interactions(9)
    events[1].feedback = Feedback.NEGATIVE  # negative without correction: skipped
    examples = examples_from_interactions(events)
    assert [e.event_id for e in examples] == [e.event_id for i, e in enumerate(events) if i != 1]
    by_id = {e.event_id: e for e in examples}
    corrected = events[0]
    assert by_id[corrected.event_id].target == corrected.correction != corrected.model_output
    assert by_id[events[2].event_id].target == events[2].model_output
    assert by_id[events[2].event_id].attributes == {"region": "north"}
    assert by_id[events[2].event_id].seq == 3


def test_the_split_depends_only_on_event_ids():
    examples = examples_from_interactions(toy_interactions(2000))
    split = split_examples(examples, validation=0.1, test=0.2)
    ids = {name: {e.event_id for e in part} for name, part in vars(split).items()}
    assert not (ids["train"] & ids["test"]) and not (ids["train"] & ids["validation"])
    assert sum(map(len, ids.values())) == len(examples)
    assert 0.17 < len(ids["test"]) / len(examples) < 0.23
    assert 0.07 < len(ids["validation"]) / len(examples) < 0.13
    # Reordering or growing the data never moves an event to another split.
    grown = list(reversed(examples)) + examples_from_interactions(toy_interactions(50, seed=9))
    later = split_examples(grown, validation=0.1, test=0.2)
    for name, part in vars(later).items():
        assert ids[name] <= {e.event_id for e in part}
    assert split.data_window == (1, 2000)


def test_classification_metrics_match_a_hand_count():
    truth = ["a", "a", "b", "b", "c"]
    preds = ["a", "b", "b", "b", "a"]
    m = classification_metrics(truth, preds)
    assert m["accuracy"] == pytest.approx(3 / 5)
    # precision a=1/2, b=2/3, c=0; recall a=1/2, b=1, c=0
    assert m["macro_precision"] == pytest.approx((1 / 2 + 2 / 3 + 0) / 3)
    assert m["macro_recall"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    f1 = [0.5, 2 * (2 / 3) / (2 / 3 + 1), 0.0]
    assert m["macro_f1"] == pytest.approx(sum(f1) / 3)


def test_generation_metrics():
    assert token_f1("card frozen now", "card frozen") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert token_f1("bill paid", "money sent") == 0.0
    m = generation_metrics(["Bill  paid", "money sent"], ["bill paid", "money"], [2.0, 6.0], [2, 2])
    assert m["exact_match"] == 0.5
    assert m["token_f1"] == pytest.approx((1.0 + 2 * 1 * 0.5 / 1.5) / 2)
    assert m["loss"] == pytest.approx(2.0)


def test_evaluate_reports_each_group(bert_classifier):
    examples = examples_from_interactions(toy_interactions(40))
    labels = sorted({e.target for e in examples})
    m = evaluate(bert_classifier, examples, labels=labels, group_by=("domain", "region"))
    assert m.n == 40 and set(m.groups) == {"domain", "region"}
    assert {k: v["n"] for k, v in m.groups["region"].items()} == {"north": 20, "south": 20}
    assert m.groups["domain"]["banking"] == m.overall
    north = [e for e in examples if e.attributes["region"] == "north"]
    assert m.groups["region"]["north"] == evaluate(bert_classifier, north, labels=labels).overall


def metrics_with(groups: dict[str, tuple[float, int]]) -> Metrics:
    return Metrics("classification", 10, {"accuracy": 0.5}, {"region": {g: {"accuracy": a, "n": n} for g, (a, n) in groups.items()}})


def test_bias_audit_measures_the_largest_gap():
    audit = bias_audit(metrics_with({"north": (0.9, 50), "south": (0.7, 40), "east": (0.8, 30)}), "region", bound=0.15)
    assert audit.gap == pytest.approx(0.2) and not audit.passed
    assert audit.per_group == {"north": 0.9, "south": 0.7, "east": 0.8}
    assert bias_audit(metrics_with({"north": (0.9, 50), "south": (0.8, 40)}), "region", bound=0.15).passed


def test_bias_audit_skips_small_groups_and_names_bad_inputs():
    metrics = metrics_with({"north": (0.9, 50), "south": (0.2, 3)})
    audit = bias_audit(metrics, "region", bound=0.1, min_group_size=10)
    assert audit.passed and audit.gap == 0.0 and audit.skipped == ("south",)
    with pytest.raises(ValueError, match="'age'"):
        bias_audit(metrics, "age")
    with pytest.raises(ValueError, match="'bleu'"):
        bias_audit(metrics, "region", metric="bleu")
    with pytest.raises(ValueError, match="bound"):
        bias_audit(metrics, "region", bound=-1)


def test_example_groups_default_to_none_for_missing_attributes():
    example = Example("e1", "text", "label", domain="banking", attributes={})
    assert example.group("domain") == "banking" and example.group("region") == "(none)"
