"""A child starts with the share of its parent's LoRA that fits its own examples (tuner.parent_scale)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

from tests.test_chains_inheritance import CHILD_LABELS, CONFIG, PARENT_LABELS, split
from tuner.adapters import LORA_WEIGHTS_FILE, read_adapter_info, save_adapter
from tuner.chains import child_config
from tuner.config import TrainConfig
from tuner.evaluation import evaluate
from tuner.inheritance import imprint_rows
from tuner.parent_scale import SCALES, fit_parent_scale
from tuner.targeting import _copy_head_rows, lora_parameters, prepare_adapter
from tuner.training import train_adapter

pytestmark = pytest.mark.usefixtures("torch_single_thread")

def lora_b(adapter) -> dict[str, torch.Tensor]:
    """The adapter's LoRA B matrices by their saved key."""
    return {key: p.detach().clone() for key, p in lora_parameters(adapter.model).items() if ".lora_B." in key}


@pytest.fixture
def parents(tmp_path, bert_classifier):
    """A trained parent, and the same parent with its LoRA update blown up 40x (off the child's data)."""
    result = train_adapter(bert_classifier, split(PARENT_LABELS, 1, "p").train, [], layers=[1], config=CONFIG)
    good = tmp_path / "good"
    save_adapter(result.adapter, good, domain="finance", version="v0001")
    bad = tmp_path / "bad"
    save_adapter(result.adapter, bad, domain="finance", version="v0001")
    weights = load_file(str(bad / LORA_WEIGHTS_FILE))
    save_file({k: v * 40 if "lora_B" in k else v for k, v in weights.items()}, str(bad / LORA_WEIGHTS_FILE))
    return good, bad


def accuracy(adapter, base, examples) -> float:
    return evaluate(base, examples, adapter.eval(), batch_size=64, max_length=CONFIG.max_length)["accuracy"]


def test_a_child_scales_a_harmful_parent_down_and_keeps_the_share_it_chose(bert_classifier, parents):
    _, bad = parents
    data = split(CHILD_LABELS, 2, "c")
    child, _ = prepare_adapter(bert_classifier, layers=[1], config=child_config(CONFIG), labels=CHILD_LABELS,
                               init_from=bad, examples=data.train)
    scale = child.info.parent_scale
    assert scale is not None and scale < 1.0
    saved = load_file(str(bad / LORA_WEIGHTS_FILE))
    assert lora_b(child) and all(torch.allclose(value, saved[key] * scale) for key, value in lora_b(child).items())
    whole, _ = prepare_adapter(bert_classifier, layers=[1], config=replace(child_config(CONFIG), fit_parent_scale=False),
                               labels=CHILD_LABELS, init_from=bad, examples=data.train)
    assert whole.info.parent_scale is None
    # Chosen on the child's training examples, it also answers its unseen test queries better.
    assert accuracy(child, bert_classifier, data.test) > accuracy(whole, bert_classifier, data.test)
    folder = bad.parent / "child"
    save_adapter(child, folder, domain="cards", version="v0001")
    assert read_adapter_info(folder).parent_scale == scale


def test_the_share_kept_is_the_one_that_answers_the_childs_examples_best_each_tried_from_the_same_start(bert_classifier, parents):
    good, _ = parents
    train = split(CHILD_LABELS, 2, "c").train
    config = child_config(CONFIG)
    fitted, _ = prepare_adapter(bert_classifier, layers=[1], config=config, labels=CHILD_LABELS, init_from=good,
                                examples=train)
    # Each share on a fresh copy of the inherited start: no state carried over from another share.
    scores = {}
    for scale in SCALES:
        child, _ = prepare_adapter(bert_classifier, layers=[1], config=replace(config, fit_parent_scale=False),
                                   labels=CHILD_LABELS, init_from=good)
        with torch.no_grad():
            for name, p in child.model.named_parameters():
                if ".lora_B." in name:
                    p.mul_(scale)
        inherited = _copy_head_rows(child.head, CHILD_LABELS, good)
        imprint = imprint_rows(child, bert_classifier, train, ["transfer_money"], inherited, CONFIG.max_length)
        scores[scale] = (imprint.accuracy, imprint.loss)
    best = max(score[0] for score in scores.values())
    assert fitted.info.parent_scale == max(scale for scale in SCALES if scores[scale][0] == best)  # ties: more parent
    assert len({round(loss, 4) for _, loss in scores.values()}) > 1  # the shares do differ


def test_a_continuing_adapter_keeps_its_whole_start(bert_classifier, parents):
    good, _ = parents
    start, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=PARENT_LABELS, init_from=good,
                               examples=split(PARENT_LABELS, 3, "p").train)
    saved = load_file(str(good / LORA_WEIGHTS_FILE))
    assert start.info.parent_scale is None
    assert lora_b(start) and all(torch.equal(value, saved[key]) for key, value in lora_b(start).items())


def test_without_examples_of_its_labels_the_parent_stays_whole(bert_classifier, parents):
    good, _ = parents
    child, _ = prepare_adapter(bert_classifier, layers=[1], config=child_config(CONFIG), labels=CHILD_LABELS,
                               init_from=good)
    assert child.info.parent_scale is None  # no examples: nothing fitted
    before = lora_b(child)
    others = [e for e in split(PARENT_LABELS, 4, "o").train if e.target == "check_balance"]  # not a child label
    assert others
    fit = fit_parent_scale(child, bert_classifier, others, ["transfer_money"], ["pay_bill", "lost_card"], CONFIG.max_length)
    assert fit.scale == 1.0 and fit.scores == {}
    assert all(torch.equal(before[k], v) for k, v in lora_b(child).items())


def test_fit_parent_scale_must_be_a_bool():
    with pytest.raises(ValueError, match="fit_parent_scale"):
        TrainConfig(fit_parent_scale="yes")
    assert child_config(CONFIG).fit_parent_scale is True and CONFIG.fit_parent_scale is False
