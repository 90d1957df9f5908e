"""The gate reuses the champion's remembered answers on old held-out rows (real cycles, tiny BERT)."""

from __future__ import annotations

import json

from recsys.events.log import append_interactions
from tests.cycle_logs import FINE, STRUGGLING, domain_events, mixed_log
from tests.test_cycle_run import tiny_config, workspace  # noqa: F401 - the fixture
from tuner.cycle.remembered import FILE, predictions_json, remembered_predictions
from tuner.cycle.running import run_cycle
from tuner.data import Example
from tuner.evaluation import evaluate


def test_a_promoted_candidate_remembers_its_held_out_answers_and_the_next_gate_reuses_them(workspace):  # noqa: F811
    append_interactions(workspace.db, mixed_log(STRUGGLING, FINE))
    config = tiny_config(workspace.base)
    (first,) = run_cycle(workspace, config).outcomes
    champion = workspace.registry.champion("billing")
    saved = json.loads((champion.path / FILE).read_text())
    first_test = first.plan.data.split.test
    assert saved["base_model"] == workspace.base.name and saved["max_length"] == config.train.max_length
    assert saved["predictions"] == {e.event_id: p for e, p in zip(first_test, first.gate.candidate.predictions)}

    append_interactions(workspace.db, domain_events(STRUGGLING, seed=1, prefix="later"))
    (second,) = run_cycle(workspace, config).outcomes

    test = second.plan.data.split.test
    old = {e.event_id for e in first_test}
    assert 0 < len(old) < len(test) and old <= {e.event_id for e in test}
    assert second.gate.reference_version == champion.version and second.gate.reference_reused == len(old)
    assert second.gate.to_json()["reference"]["reused_rows"] == len(old)
    # Reused or not, the champion's numbers are what evaluating it on every row gives.
    fresh = evaluate(workspace.base, test, workspace.registry.load(workspace.base, "billing", champion.version),
                     group_by=("domain", "region"), batch_size=64, max_length=config.train.max_length,
                     allow_unseen=True)  # fmt: skip
    assert second.gate.reference.predictions == fresh.predictions
    assert second.gate.reference.overall == fresh.overall


def test_evaluate_runs_only_the_rows_it_does_not_know(bert_classifier):
    rows = [Example(f"e{i}", text, label) for i, (text, label) in
            enumerate([("refund my card", "a"), ("where is my bill", "b"), ("card please", "a")])]  # fmt: skip
    # A remembered answer is taken as is (here a wrong one, so reuse shows in the metrics).
    known = evaluate(bert_classifier, rows, labels=["a", "b"], remembered={"e0": "b", "e1": "b", "e2": "b"})
    assert known.predictions == ["b", "b", "b"] and known.overall["accuracy"] == 1 / 3
    partly = evaluate(bert_classifier, rows, labels=["a", "b"], remembered={"e1": "b"})
    everything = evaluate(bert_classifier, rows, labels=["a", "b"])
    assert partly.predictions == everything.predictions


def test_remembered_answers_are_trusted_only_for_the_same_base_and_input_length(tmp_path):
    rows = [Example("e1", "x", "a"), Example("e2", "y", "b"), Example("", "no id", "a")]
    (tmp_path / FILE).write_text(predictions_json("minilm-l6", 32, rows, ["a", "a", "b"]))
    assert remembered_predictions(tmp_path, "minilm-l6", 32) == {"e1": "a", "e2": "a"}
    assert remembered_predictions(tmp_path, "other-base", 32) == {}
    assert remembered_predictions(tmp_path, "minilm-l6", 64) == {}
    assert remembered_predictions(None, "minilm-l6", 32) == {}
    assert remembered_predictions(tmp_path / "missing", "minilm-l6", 32) == {}
    (tmp_path / FILE).write_text("{not json")
    assert remembered_predictions(tmp_path, "minilm-l6", 32) == {}
    (tmp_path / FILE).write_text(json.dumps({"base_model": "minilm-l6"}))
    assert remembered_predictions(tmp_path, "minilm-l6", 32) == {}
