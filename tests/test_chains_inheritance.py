"""How a warm-started child inherits: head rows by name, new labels imprinted, LoRA at a lower rate."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from recsys.domains import DomainRecord, upsert_domain
from recsys.store import open_database
from tests.fixtures.toy_data import toy_interactions
from tuner.adapters import save_adapter
from tuner.chains import child_config
from tuner.config import TrainConfig
from tuner.data import split_interactions
from tuner.heads import ClassifierHead, embed_texts, label_embeddings
from tuner.inheritance import imprint_rows
from tuner.registry import AdapterRegistry
from tuner.targeting import prepare_adapter
from tuner.training import train_adapter
from tuner.tune import tune_domain

pytestmark = pytest.mark.usefixtures("torch_single_thread")

CONFIG = TrainConfig(epochs=2, lr=5e-3, batch_size=16, progress=False)
# The child lists the shared labels in another order than the parent: rows map by name.
PARENT_LABELS = ("check_balance", "lost_card", "pay_bill")
CHILD_LABELS = ("transfer_money", "pay_bill", "lost_card")


def split(labels, seed: int, prefix: str):
    return split_interactions(toy_interactions(90, seed=seed, domain=prefix, labels=labels, prefix=prefix), validation=0.2, test=0.2)


@pytest.fixture
def parent_folder(tmp_path, bert_classifier):
    result = train_adapter(bert_classifier, split(PARENT_LABELS, 1, "p").train, [], layers=[1], config=CONFIG)
    folder = tmp_path / "parent"
    save_adapter(result.adapter, folder, domain="finance", version="v0001")
    return folder, result.adapter.head


def test_new_labels_are_imprinted_from_the_childs_examples_and_shared_rows_come_by_name(bert_classifier, parent_folder):
    folder, parent_head = parent_folder
    train = split(CHILD_LABELS, 2, "c").train
    child, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=CHILD_LABELS, init_from=folder, examples=train)
    for i, label in enumerate(CHILD_LABELS[1:], start=1):
        j = PARENT_LABELS.index(label)
        assert torch.equal(child.head.weight[i], parent_head.weight[j]) and child.head.bias[i] == parent_head.bias[j]
    # transfer_money: the mean of its normalised name row and examples, scaled and biased like the inherited rows.
    child.model.eval()
    texts = [e.text for e in train if e.target == "transfer_money"]
    vectors = F.normalize(embed_texts(child.model, bert_classifier.tokenizer, texts, "mean", max_length=CONFIG.max_length), dim=-1)
    name = label_embeddings(child.model, bert_classifier.tokenizer, ["transfer_money"], "mean", CONFIG.max_length)
    inherited = [PARENT_LABELS.index(label) for label in CHILD_LABELS[1:]]
    expected = F.normalize(torch.cat([name, vectors]).mean(dim=0), dim=-1) * parent_head.weight[inherited].norm(dim=-1).mean()
    assert len(texts) > 1 and torch.allclose(child.head.weight[0], expected, atol=1e-5)
    # Its bias: the shift from the inherited rows' mean that gives the least cross-entropy
    # over the child's examples, each of transfer_money's scored on its row without it.
    scale = parent_head.scale
    norm = parent_head.weight[inherited].norm(dim=-1).mean()
    held_out = torch.stack([
        (v * F.normalize(name[0] + vectors.sum(dim=0) - v, dim=-1)).sum() for v in vectors
    ]) * norm * scale
    shared = [e for e in train if e.target != "transfer_money"]
    shared_vectors = F.normalize(
        embed_texts(child.model, bert_classifier.tokenizer, [e.text for e in shared], "mean", max_length=CONFIG.max_length), dim=-1)
    weight = torch.cat([expected[None], parent_head.weight[inherited]])  # the child's row order
    start_bias = torch.cat([parent_head.bias[inherited].mean()[None], parent_head.bias[inherited]])
    logits = scale * torch.cat([vectors, shared_vectors]) @ weight.T + start_bias
    logits[: len(vectors), 0] = held_out + start_bias[0]
    targets = torch.tensor([0] * len(vectors) + [CHILD_LABELS.index(e.target) for e in shared])
    shifts = torch.linspace(-2 * scale * norm, 2 * scale * norm, 4001)
    losses = torch.stack([F.cross_entropy(logits + torch.tensor([d, 0.0, 0.0]), targets) for d in shifts])
    best = shifts[losses.argmin()]
    assert torch.isclose(child.head.bias[0] - start_bias[0], best, atol=float(shifts[1] - shifts[0]) * 2)
    assert not torch.allclose(child.head.weight[0], name[0] * expected.norm(), atol=1e-3)


def test_new_rows_are_shifted_down_where_their_centroids_would_take_the_shared_queries(bert_classifier, parent_folder):
    folder, _ = parent_folder
    # The parent's rows pulled off where the child's encoder puts their queries (as a slow
    # head under a fast-moving encoder leaves them): an imprinted centroid outscores them.
    head, labels = ClassifierHead.load(folder)
    noise = torch.randn(head.weight.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        norms = head.weight.norm(dim=-1, keepdim=True)
        head.weight.copy_(F.normalize(F.normalize(head.weight, dim=-1) + 2 * F.normalize(noise, dim=-1), dim=-1) * norms)
    head.save(folder, labels)
    train = split(CHILD_LABELS, 2, "c").train
    child, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=CHILD_LABELS, init_from=folder, examples=train)
    inherited = [labels.index(label) for label in CHILD_LABELS[1:]]
    shift = child.head.bias[0] - head.bias[inherited].mean()
    assert shift < -1.0
    shared = [e for e in train if e.target != "transfer_money"]
    child.model.eval()
    vectors = embed_texts(child.model, bert_classifier.tokenizer, [e.text for e in shared], "mean", max_length=CONFIG.max_length)
    logits = child.head(vectors)
    unshifted = logits.clone()
    unshifted[:, 0] -= shift
    assert (logits.argmax(dim=-1) == 0).sum() < (unshifted.argmax(dim=-1) == 0).sum()  # fewer shared queries taken


def test_without_examples_of_inherited_labels_new_rows_take_their_mean_bias(bert_classifier, parent_folder):
    folder, parent_head = parent_folder
    train = [e for e in split(CHILD_LABELS, 2, "c").train if e.target == "transfer_money"]
    child, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=CHILD_LABELS, init_from=folder, examples=train)
    inherited = [PARENT_LABELS.index(label) for label in CHILD_LABELS[1:]]
    assert torch.isclose(child.head.bias[0], parent_head.bias[inherited].mean())


def test_a_cold_start_imprints_every_label_from_its_examples(bert_classifier):
    train = split(CHILD_LABELS, 2, "c").train
    names = label_embeddings(bert_classifier.model.eval(), bert_classifier.tokenizer, list(CHILD_LABELS), "mean", CONFIG.max_length)
    bare, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=CHILD_LABELS)
    assert torch.allclose(bare.head.weight, names, atol=1e-6)  # no examples: the names
    scratch, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=CHILD_LABELS, examples=train)
    for i, label in enumerate(CHILD_LABELS):
        texts = [e.text for e in train if e.target == label]
        vectors = F.normalize(embed_texts(bert_classifier.model, bert_classifier.tokenizer, texts, "mean", max_length=CONFIG.max_length), dim=-1)
        # The mean of the name's row and the examples' normalised embeddings, at the name row's norm (1), no bias.
        expected = F.normalize(torch.cat([names[i][None], vectors]).mean(dim=0), dim=-1)
        assert torch.allclose(scratch.head.weight[i], expected, atol=1e-5)
    assert torch.equal(scratch.head.bias, torch.zeros(len(CHILD_LABELS)))
    # Through training (0 steps): the config switch decides.
    plain = replace(CONFIG, max_steps=0, imprint_new_labels=False)
    off = train_adapter(bert_classifier, train, [], layers=[1], config=plain, labels=CHILD_LABELS).adapter
    on = train_adapter(bert_classifier, train, [], layers=[1], config=replace(plain, imprint_new_labels=True), labels=CHILD_LABELS).adapter
    assert torch.allclose(off.head.weight, names, atol=1e-6)
    assert torch.allclose(on.head.weight, scratch.head.weight, atol=1e-6)


def test_imprinting_of_a_warm_start_follows_the_switch(bert_classifier, parent_folder):
    folder, _ = parent_folder
    train = split(CHILD_LABELS, 2, "c").train
    names = lambda adapter: label_embeddings(adapter.model.eval(), bert_classifier.tokenizer, ["transfer_money"], "mean", CONFIG.max_length)[0]  # noqa: E731
    # Through training (0 steps): the config switch decides.
    plain = replace(CONFIG, max_steps=0, imprint_new_labels=False)
    off = train_adapter(bert_classifier, train, [], layers=[1], config=plain, labels=CHILD_LABELS, init_from=folder).adapter
    on = train_adapter(bert_classifier, train, [], layers=[1], config=replace(plain, imprint_new_labels=True),
                       labels=CHILD_LABELS, init_from=folder).adapter
    assert torch.allclose(off.head.weight[0], names(off), atol=1e-6)
    assert not torch.allclose(on.head.weight[0], off.head.weight[0], atol=1e-3)
    assert torch.equal(on.head.weight[1:], off.head.weight[1:])


def test_a_label_without_examples_keeps_its_name_row(bert_classifier, parent_folder):
    folder, _ = parent_folder
    child, _ = prepare_adapter(bert_classifier, layers=[1], config=CONFIG, labels=CHILD_LABELS, init_from=folder)
    before = child.head.weight.detach().clone()
    others = [e for e in split(CHILD_LABELS, 2, "c").train if e.target != "transfer_money"]
    assert imprint_rows(child, bert_classifier, others, ["transfer_money"], list(CHILD_LABELS[1:]), CONFIG.max_length) == []
    assert torch.equal(child.head.weight, before)


def test_a_non_bool_imprint_switch_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="imprint_new_labels must be a bool"):
        TrainConfig(imprint_new_labels="yes")


def test_a_child_trains_its_lora_and_its_head_at_a_fraction_of_their_rates():
    child = child_config(TrainConfig(lr=2e-3, head_lr=5e-3, child_lr_scale=0.1))
    assert (child.lr, child.head_lr) == (pytest.approx(2e-4), pytest.approx(5e-4))
    assert child_config(TrainConfig(lr=1e-3)).head_lr == pytest.approx(1e-4)  # no head_lr: the head's rate is lr
    assert child_config(TrainConfig(lr=1e-3, child_lr_scale=1.0)).lr == 1e-3


@pytest.mark.parametrize("value", [0, -0.1, 1.5, float("nan"), True])
def test_a_bad_child_lr_scale_is_refused_naming_the_field(value):
    with pytest.raises(ValueError, match="child_lr_scale"):
        TrainConfig(child_lr_scale=value)


def test_tune_domain_trains_a_child_with_the_child_config(tmp_path, bert_classifier):
    db = open_database(tmp_path / "adaptune.duckdb")
    try:
        upsert_domain(db, DomainRecord("finance"))
        upsert_domain(db, DomainRecord("banking", parent="finance"))
        registry = AdapterRegistry(db, tmp_path / "adapters")
        parent = tune_domain(bert_classifier, registry, split(PARENT_LABELS, 1, "p"), domain="finance", layers=[1], config=CONFIG)
        registry.promote("finance", parent.record.version)
        child = tune_domain(bert_classifier, registry, split(CHILD_LABELS, 2, "c"), domain="banking", layers=[1], config=CONFIG)
        assert parent.result.adapter.info.train_config["lr"] == CONFIG.lr
        saved = child.result.adapter.info.train_config
        scaled = pytest.approx(CONFIG.lr * CONFIG.child_lr_scale)
        assert (saved["lr"], saved["head_lr"]) == (scaled, pytest.approx((CONFIG.head_lr or CONFIG.lr) * CONFIG.child_lr_scale))
    finally:
        db.close()
