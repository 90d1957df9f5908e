"""Answers users rejected without a correction teach which label an input is not.

The loss of a rejected answer is the complementary label's, -log(1 - p(rejected label)); a
batch without one is plain cross-entropy. Trained on real (tiny) models, rejected answers
push their labels down on those inputs; a cycle reads only the new rejections in the
training share and says how many it trained on.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from recsys.events.log import append_interactions
from recsys.events.model import Feedback
from tests.cycle_logs import STRUGGLING, domain_events
from tests.fixtures.toy_data import KEYWORDS
from tests.test_cycle_run import tiny_config, workspace  # noqa: F401 (fixture)
from tests.test_tuner_training import QUICK, toy_split
from tuner.cycle.planning import load_domain_data
from tuner.cycle.running import run_cycle
from tuner.data import Example, split_examples
from tuner.objectives import ClassificationObjective
from tuner.targeting import prepare_adapter
from tuner.training import train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")
LABELS = sorted(KEYWORDS)


def _wrong(label: str) -> str:
    return next(other for other in LABELS if other != label)


def test_a_rejected_answer_adds_the_complementary_loss_and_a_plain_batch_is_cross_entropy(bert_classifier):
    adapter, _ = prepare_adapter(bert_classifier, layers=[1], config=QUICK, labels=LABELS)
    objective = ClassificationObjective(bert_classifier, LABELS, 32, label_smoothing=0.1)
    right = [Example(f"r{i}", f"text {i}", LABELS[i % len(LABELS)]) for i in range(3)]
    rejected = [Example("x", "text x", LABELS[1]), Example("y", "text y", "not a label")]
    items = objective.encode(right) + objective.encode_rejected(rejected)
    assert [label for _, label in items[3:]] == [-2]  # the unknown label is left out
    batch = objective.batch(items)
    with torch.no_grad():
        logits = objective.logits(adapter, batch)
        loss = objective.loss(adapter, batch)
        plain = objective.loss(adapter, objective.batch(items[:3]))
    expected = (F.cross_entropy(logits[:3], batch.labels[:3], label_smoothing=0.1, reduction="sum")
                - torch.log1p(-logits[3].softmax(-1)[1])) / 4
    assert loss == pytest.approx(float(expected), rel=1e-5)
    assert plain == pytest.approx(float(F.cross_entropy(logits[:3], batch.labels[:3], label_smoothing=0.1)), rel=1e-5)


def test_training_on_rejected_answers_pushes_their_labels_down(bert_classifier):
    split = toy_split()
    rejected = [replace(e, target=_wrong(e.target)) for e in split.test]
    plain = train_adapter(bert_classifier, split.train, [], layers=[1], config=QUICK).adapter
    taught = train_adapter(bert_classifier, split.train, [], layers=[1], config=QUICK, rejected=rejected).adapter
    objective = ClassificationObjective(bert_classifier, LABELS, QUICK.max_length)
    batch = objective.batch(objective.encode(rejected))
    wrong = batch.labels.unsqueeze(1)
    with torch.no_grad():
        before = objective.logits(plain, batch).softmax(-1).gather(1, wrong).mean()
        after = objective.logits(taught, batch).softmax(-1).gather(1, wrong).mean()
    assert after < 0.8 * before


def test_a_cycle_trains_on_the_new_rejections_of_the_training_share(workspace):  # noqa: F811
    events = domain_events(STRUGGLING)
    # Every other correction comes back as a bare rejection of the served answer.
    events = [replace(e, feedback=Feedback.NEGATIVE, correction="") if e.feedback is Feedback.CORRECTED and i % 2 else e
              for i, e in enumerate(events)]
    append_interactions(workspace.db, events)
    config = tiny_config(workspace.base)
    data = load_domain_data(workspace.db, "billing", 10_000, config)
    stored = {e.event_id: e for e in events}
    negatives = [e for e in events if e.feedback is Feedback.NEGATIVE]
    candidates = [Example(e.event_id, e.input_text, e.model_output) for e in negatives]
    in_training = {e.event_id for e in split_examples(candidates, validation=config.validation, test=config.test).train}
    assert in_training and {e.event_id for e in data.rejected_train} == in_training
    assert all(e.target == stored[e.event_id].model_output != stored[e.event_id].correction for e in data.rejected_train)
    # Rows the champion's start already learned (up to seen_seq) are not rejections to learn again.
    assert load_domain_data(workspace.db, "billing", 10_000, config, seen_seq=10_000).rejected_train == ()

    (outcome,) = run_cycle(workspace, config).outcomes
    assert outcome.train["rejected"] == len(in_training)


def test_a_cycle_told_not_to_learn_from_rejections_trains_on_none(workspace):  # noqa: F811
    events = [replace(e, feedback=Feedback.NEGATIVE, correction="") if e.feedback is Feedback.CORRECTED and i % 2 else e
              for i, e in enumerate(domain_events(STRUGGLING))]
    append_interactions(workspace.db, events)
    (outcome,) = run_cycle(workspace, tiny_config(workspace.base, learn_from_rejections=False)).outcomes
    assert outcome.train["rejected"] == 0


def test_learn_from_rejections_must_be_a_bool():
    from tuner.cycle.config import CycleConfig

    with pytest.raises(ValueError, match="learn_from_rejections must be a bool"):
        CycleConfig(learn_from_rejections="no")
